// Command background is a bot whose handlers start work that outlives
// them: /remind 10 tea answers at once and sends "⏰ tea" ten seconds
// later. The timer runs in a goroutine started with Context.Go, so the bot
// owns it: it carries the handler's labels (a leak report names
// "remind"), its context is cancelled when the bot stops, and Run waits for
// it — no reminder goroutine survives the bot. Pending reminders are
// bounded, and are dropped at stop (keep them in a store to survive
// restarts).
//
//	TELEGRAM_TOKEN=123:abc go run ./examples/background
//
// TELEGRAM_API_URL sets the Bot API's base URL (default the real one).
// SIGINT or SIGTERM stops it gracefully and it exits 0.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/examples/internal/exlog"
	"github.com/tidygram/tidygram/tg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

const (
	maxPending = 1000      // reminders waiting at once
	maxDelay   = time.Hour // the longest reminder
	usage      = "Usage: /remind <seconds> <text>, e.g. /remind 10 tea"
)

// run serves until ctx ends; it returns nil after a clean stop.
func run(ctx context.Context, getenv func(string) string) error {
	// life logs three lines: starting, connected (as whom), stopped.
	life := exlog.Starting("background")
	bot, err := tidygram.NewFromEnv(getenv, life.Option())
	if err != nil {
		return err
	}
	var pending atomic.Int64
	bot.OnCommand("remind", func(c *tidygram.Context) error {
		secs, text, _ := strings.Cut(strings.TrimSpace(c.Args()), " ")
		n, err := strconv.Atoi(secs)
		delay := time.Duration(n) * time.Second
		if err != nil || n < 1 || delay > maxDelay || strings.TrimSpace(text) == "" {
			return c.Reply(usage + " (at most one hour)")
		}
		if pending.Add(1) > maxPending {
			pending.Add(-1)
			return c.Reply("Too many reminders are waiting; try again later.")
		}
		chat, client := c.Chat().ID, c.Client // c itself must not be used after the handler returns
		c.Go(func(ctx context.Context) {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
				pending.Add(-1)
			case <-ctx.Done(): // the bot is stopping: drop the reminder
				pending.Add(-1)
				return
			}
			if _, err := client.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(chat), Text: "⏰ " + text}); err != nil {
				log.Printf("reminder to chat %d: %v", chat, err)
			}
		})
		return c.Reply(fmt.Sprintf("OK, I will remind you in %v.", delay))
	})
	bot.OnCommand("pending", func(c *tidygram.Context) error {
		return c.Reply(fmt.Sprintf("%d reminders waiting.", pending.Load()))
	})
	return life.Run(ctx, bot) // returns after every reminder goroutine has ended
}
