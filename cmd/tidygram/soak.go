package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tidygram/tidygram/internal/demo"
	"github.com/tidygram/tidygram/internal/soak"
)

// runSoak soaks a bot against the emulator and returns an error (exit
// status 1) when a trend exceeds its threshold or a reply was missing or
// wrong.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	botCmd := fs.String("bot", "", "the bot's command line, run with sh -c; it must read TELEGRAM_API_URL and TELEGRAM_TOKEN")
	inProcess := fs.Bool("in-process", false, "soak tidygram's demo bot in this process instead of --bot")
	opsURL := fs.String("ops", "", "the bot's ops server (base or /metrics URL): goroutines and heap are read from its Prometheus metrics")
	opsToken := fs.String("ops-token", os.Getenv("TIDYGRAM_OPS_TOKEN"), "--ops: the ops server's /debug/ token, to read heap profiles (default $TIDYGRAM_OPS_TOKEN)")
	duration := fs.Duration("duration", soak.DefaultDuration, "load time; trends are fitted over its second half")
	users := fs.Int("users", soak.DefaultUsers, "simulated users")
	think := fs.Duration("think", demo.DefaultThink, "mean pause between a user's actions")
	faults := fs.String("faults", "default", "faults injected for the whole run: default, off, or a spec method:kind:probability[:arg],…")
	expect := fs.String("expect", "", "what users send and check: any (text; any reply), echo (text; the reply contains it), demo (the demo bot's features); default any, demo with --in-process")
	out := fs.String("out", "", "directory for report.md, chart.svg and bot.log (default: a new directory under $TMPDIR, printed)")
	interval := fs.Duration("interval", 0, "sampling interval (default duration/300, within 100ms–5s)")
	seed := fs.Uint64("seed", 1, "seed of the users' choices and of the faults")
	startTimeout := fs.Duration("start-timeout", soak.DefaultStartTimeout, "how long the bot may take to make its first Bot API call")
	stopTimeout := fs.Duration("stop-timeout", soak.DefaultStopTimeout, "how long the bot may take to exit after SIGTERM before SIGKILL")
	var th soak.Thresholds
	fs.Float64Var(&th.Goroutines, "max-goroutines", soak.DefaultGoroutineRate, "largest goroutine growth per minute")
	fs.Float64Var(&th.HeapMiB, "max-heap", soak.DefaultHeapRate, "largest live heap growth per minute, MiB")
	fs.Float64Var(&th.RSSMiB, "max-rss", soak.DefaultRSSRate, "largest RSS growth per minute, MiB")
	fs.Float64Var(&th.FDs, "max-fds", soak.DefaultFDRate, "largest open file growth per minute")
	fs.Float64Var(&th.Threads, "max-threads", soak.DefaultThreadRate, "largest OS thread growth per minute")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: tidygram soak --bot "<command>" [flags]
       tidygram soak --in-process [flags]

Runs a bot against the Bot API emulator with simulated users and faults,
samples its process and its descendants (RSS, threads, open files from
/proc; goroutines and live heap from --ops, or directly with --in-process),
checks that every user message got its reply, and fits the growth of each
resource over the second half of the run (least squares, per minute). A
trend fails when its slope is over its limit and the growth it predicts is
over a small floor and over the samples' noise; the summary says which.
With --ops and --ops-token (or --in-process) it also compares heap
profiles from the start of the second half and the end by allocation site
(as tidygram leaks --diff does) and names the growing sites. Writes
report.md and chart.svg to --out (default a new temporary directory);
exit status 1 when a trend fails or a reply is missing or wrong.

The bot gets TELEGRAM_API_URL (the emulator's base URL) and TELEGRAM_TOKEN
in its environment; any language will do. Example:

  tidygram soak --bot "./mybot" --ops http://127.0.0.1:9464 --ops-token "$TOKEN" --duration 10m --users 200

The default fault spec is %s.

Flags:
`, soak.DefaultFaults)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, " (quote the --bot command)"); err != nil {
		return err
	}
	switch {
	case (*botCmd == "") == !*inProcess:
		return fmt.Errorf("%w: give --bot \"<command>\" or --in-process", errUsage)
	case *duration < time.Second || *users < 1 || *think <= 0:
		return fmt.Errorf("%w: --duration must be at least 1s, --users at least 1, --think positive", errUsage)
	}
	rules, err := demo.ParseFaultsWith(*faults, soak.DefaultFaults)
	if err != nil {
		return fmt.Errorf("%w: --faults: %v", errUsage, err)
	}
	var scenario demo.Scenario
	if *expect != "" {
		if scenario, err = demo.ParseScenario(*expect); err != nil {
			return fmt.Errorf("%w: --expect: %v", errUsage, err)
		}
	}
	what := *botCmd
	if *inProcess {
		what = "the demo bot in process"
	}
	fmt.Fprintf(stderr, "tidygram soak: %s, %d users for %v, faults %s (Ctrl-C stops early and writes the report)\n",
		what, *users, *duration, map[bool]string{true: "on", false: "off"}[len(rules) > 0])
	res, err := soak.Run(ctx, soak.Config{
		Command:      *botCmd,
		InProcess:    *inProcess,
		OpsURL:       *opsURL,
		OpsToken:     *opsToken,
		Duration:     *duration,
		Load:         demo.LoadConfig{Users: *users, Think: *think, Scenario: scenario},
		Faults:       rules,
		Interval:     *interval,
		Thresholds:   th,
		OutDir:       *out,
		StartTimeout: *startTimeout,
		StopTimeout:  *stopTimeout,
		Seed:         *seed,
		Progress:     stderr,
	})
	if res != nil {
		fmt.Fprint(stdout, res.Summary())
	}
	if err != nil {
		return err
	}
	if res.Interrupted || res.OK() {
		return nil
	}
	return errors.New(strings.Join(res.Problems, "; "))
}
