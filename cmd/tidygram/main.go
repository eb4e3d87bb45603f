// Command tidygram is tidygram's toolbox for bot developers:
//
//	tidygram <command> [flags]
//
// Run "tidygram help" for the list of commands and "tidygram <command>
// -h" for a command's flags. Every command stops cleanly on SIGINT or
// SIGTERM and exits 0 when it was stopped that way.
//
// It owns the processes and servers its commands start (the emulator, a
// demo or soak bot) and stops them before it exits. It never talks to Telegram: every command speaks to the emulator
// or to the ops server of a bot at the address it is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run returns when its work is done or ctx
// (cancelled by SIGINT/SIGTERM) ends.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands: adding one is one line here plus its
// own file.
func commands() []command {
	return []command{
		{"emulator", "run the Telegram Bot API emulator with simulated users and faults", runEmulator},
		{"leaks", "explain a goroutine dump or a heap profile, diff two, or watch a bot for growth", runLeaks},
		{"demo", "run a demo bot against the emulator with simulated users and faults, then report", runDemo},
		{"soak", "run any bot against the emulator under load and faults; fail on growing resources", runSoak},
	}
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage error")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command named by args[0] and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "tidygram %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "tidygram %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "tidygram: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "tidygram is the toolbox of the tidygram Telegram bot framework.\n\nUsage:\n  tidygram <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"tidygram <command> -h\" for a command's flags.\n")
}
