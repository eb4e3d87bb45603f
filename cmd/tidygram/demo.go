package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tidygram/tidygram/internal/demo"
)

// runDemo runs the demo: emulator, demo bot, ops server and simulated
// users with a fault phase, then the report. It returns an error (exit
// status 1) when an update was lost or handled twice, a reply was wrong
// or missing, or a goroutine was left.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", demo.DefaultDuration, "how long the simulated users use the bot")
	users := fs.Int("users", demo.DefaultUsers, "simulated users")
	think := fs.Duration("think", demo.DefaultThink, "mean pause between a user's actions")
	faults := fs.String("faults", "on", "faults injected in the middle third: on, off, or a spec method:kind:probability[:arg],… (kinds 500, 502, 429, hang, cut, trickle, malformed, huge)")
	keep := fs.Bool("keep", false, "after the report, keep the bot and the ops server running until Ctrl-C")
	seed := fs.Uint64("seed", 1, "seed of the users' choices and of the faults (same seed, same run)")
	opsAddr := fs.String("ops-addr", "127.0.0.1:0", "listen address of the ops server (default: a free port)")
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
	if rep.Interrupted {
		return nil
	}
	if probs := rep.Problems(); len(probs) > 0 {
		return errors.New(strings.Join(probs, "; "))
	}
	return nil
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
