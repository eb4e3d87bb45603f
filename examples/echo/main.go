// Command echo is the smallest tidygram bot: it answers every text message
// with the same text.
//
//	TELEGRAM_TOKEN=123:abc go run ./examples/echo
//
// TELEGRAM_API_URL sets the Bot API's base URL (default the real one; the
// emulator's with `tidygram emulator`). Ctrl-C (SIGINT) or SIGTERM stops it
// gracefully: the pending poll is aborted, running handlers finish, the
// handled updates are confirmed, and it exits 0. A SIGTERM must reach the
// bot itself: `kill` on a `go run` in the background stops go run and
// leaves the bot it started running, so build it first to run it that way
// (go build -o /tmp/echo ./examples/echo). It logs three lines: starting
// (with its pid), connected (as @username) and stopped.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/examples/internal/exlog"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx ends; it returns nil after a clean stop.
func run(ctx context.Context, getenv func(string) string) error {
	// life logs three lines: starting, connected (as whom), stopped.
	life := exlog.Starting("echo")
	bot, err := tidygram.NewFromEnv(getenv, life.Option())
	if err != nil {
		return err
	}
	bot.OnText(func(c *tidygram.Context) error {
		return c.Reply(c.Text())
	})
	// Everything else (photos, stickers, …) gets a hint.
	bot.Fallback(func(c *tidygram.Context) error {
		if c.Chat() == nil {
			return nil // not a message: nothing to answer
		}
		return c.Send("Send me some text and I will send it back.")
	})
	return life.Run(ctx, bot) // returns after everything it started has ended
}
