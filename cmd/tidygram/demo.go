package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tidygram/tidygram/internal/demo"
)

// runDemo runs the demo: emulator, demo bot, ops server and simulated
// users with a fault phase, then the report. It returns an error (exit
// status 1) when an update was lost or handled twice, a reply was wrong
// or missing, or a goroutine was left.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if raw := os.Getenv(demo.InstanceEnv); raw != "" {
		// One instance of `demo --instances N`, started by it.
		var cfg demo.InstanceConfig
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			return fmt.Errorf("%s: %w", demo.InstanceEnv, err)
		}
		return demo.RunInstance(ctx, cfg, stdout, stderr)
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", demo.DefaultDuration, "how long the simulated users use the bot")
	users := fs.Int("users", demo.DefaultUsers, "simulated users")
	think := fs.Duration("think", demo.DefaultThink, "mean pause between a user's actions")
	faults := fs.String("faults", "on", "faults injected in the middle third: on, off, or a spec method:kind:probability[:arg],… (kinds 500, 502, 429, hang, cut, trickle, malformed, huge)")
	keep := fs.Bool("keep", false, "after the report, keep the bot and the ops server running until Ctrl-C")
	seed := fs.Uint64("seed", 1, "seed of the users' choices and of the faults (same seed, same run)")
	opsAddr := fs.String("ops-addr", "127.0.0.1:0", "listen address of the ops server (default: a free port)")
	instances := fs.Int("instances", 1, "run the bot as this many processes sharing an embedded 3-node JetStream cluster, and kill one mid-run (no faults, no ops server)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: tidygram demo [flags]

Runs, in this process and without network or token: the Bot API emulator,
a demo bot (commands, echo, an inline keyboard vote, file download and
upload, a session counter, the flood limiter), its ops server (/metrics,
/debug/goroutines) and simulated users who use it and check every reply.
Faults (502s, hung requests, 429s, cut connections) are injected in the
middle of the run. A live line on stderr shows updates/s, handler
latency, goroutines, heap and 429s; the report at the end shows what was
sent, handled, lost (must be 0), handled twice, replies checked, and the
goroutines before and after (equal). Exit status 1 if a promise broke.

With --instances N (N ≥ 2), the demo bot runs as N processes of this
binary on a 3-node JetStream cluster started in this process (a temporary
directory, removed at the end): one durable spool (R3) partitioned by chat,
sessions and flood limits in shared KV buckets, one instance polling at a
time. The emulator's flood control is on. Halfway through, the instance
holding the poll lease is killed with SIGKILL; the report shows updates
lost (must be 0), handled twice, per-chat order, 429s (must be 0) and how
each instance exited (0 after SIGTERM).

The default fault spec is %s.

Flags:
`, demo.DefaultFaultSpec)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, ""); err != nil {
		return err
	}
	rules, err := demo.ParseFaults(*faults)
	if err != nil {
		return fmt.Errorf("%w: --faults: %v", errUsage, err)
	}
	if *duration < time.Second || *users < 1 || *think <= 0 {
		return fmt.Errorf("%w: --duration must be at least 1s, --users at least 1, --think positive", errUsage)
	}
	if *instances != 1 {
		return runInstances(ctx, fs, *instances, *duration, *users, *think, *seed, stdout, stderr)
	}
	fmt.Fprintf(stderr, "tidygram demo: %d simulated users for %v, faults %s (Ctrl-C stops early)\n",
		*users, *duration, map[bool]string{true: "on", false: "off"}[len(rules) > 0])
	rep, err := demo.Run(ctx, demo.Config{
		Duration:      *duration,
		Load:          demo.LoadConfig{Users: *users, Think: *think},
		Faults:        rules,
		Seed:          *seed,
		OpsAddr:       *opsAddr,
		Keep:          *keep,
		Out:           stdout,
		Progress:      stderr,
		ProgressWidth: terminalWidth(stderr),
	})
	if err != nil {
		return err
	}
	return outcome(rep.Interrupted, rep.Problems())
}

// runInstances runs `demo --instances n`.
func runInstances(ctx context.Context, fs *flag.FlagSet, n int, duration time.Duration, users int, think time.Duration, seed uint64, stdout, stderr io.Writer) error {
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "faults", "keep", "ops-addr":
			bad = append(bad, "--"+f.Name)
		}
	})
	switch {
	case n < 2 || n > 16:
		return fmt.Errorf("%w: --instances must be from 2 to 16", errUsage)
	case len(bad) > 0:
		return fmt.Errorf("%w: %s cannot be combined with --instances (the kill is the fault)", errUsage, strings.Join(bad, ", "))
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("the instances run this binary: %w", err)
	}
	fmt.Fprintf(stderr, "tidygram demo: %d instances of the demo bot on a %d-node JetStream cluster, %d simulated users for %v; one instance is killed halfway (Ctrl-C stops early)\n",
		n, demo.ClusterNodes, users, duration)
	rep, err := demo.RunInstances(ctx, demo.InstancesConfig{
		Instances: n,
		Duration:  duration,
		Load:      demo.LoadConfig{Users: users, Think: think},
		Seed:      seed,
		Command:   demo.InstanceCommand(exe, os.Environ()),
		Out:       stdout,
		Progress:  stderr,
	})
	if err != nil {
		return err
	}
	return outcome(rep.Interrupted, rep.Problems())
}

// parseFlags parses args into fs: flag.ErrHelp for -h, errUsage for a bad
// flag or an argument left over (hint, if any, follows the message).
func parseFlags(fs *flag.FlagSet, args []string, hint string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q%s", errUsage, fs.Args(), hint)
	}
	return nil
}

// outcome is a demo run's result for the exit status: nil when it was
// interrupted (Ctrl-C) or found no problem, else the problems.
func outcome(interrupted bool, problems []string) error {
	if interrupted || len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}
