// Command conversation is a bot that leads each user through a dialogue —
// ordering a pizza: size, address, confirmation — with session.Conversation:
// a step machine per chat and user, kept in a bounded session store, that
// falls back to the start after 10 idle minutes. /cancel leaves it at any
// step.
//
//	TELEGRAM_TOKEN=123:abc go run ./examples/conversation
//
// TELEGRAM_API_URL sets the Bot API's base URL (default the real one).
// SIGINT or SIGTERM stops it gracefully and it exits 0. The store is in
// memory; boltstore.Open (package session/boltstore) keeps conversations across restarts.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/examples/internal/exlog"
	"github.com/tidygram/tidygram/session"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

// order is what the conversation collects.
type order struct {
	Size    string `json:"size"`
	Address string `json:"address"`
}

// Steps of the conversation.
const (
	stepStart   = "start"
	stepSize    = "size"
	stepAddress = "address"
	stepConfirm = "confirm"
)

// newConversation builds the step machine. Each step gets the handler's
// Context, answers through it, and returns the next step ("" to stay).
// A step that fails leaves the conversation where it was, so a redelivered
// update meets the same state.
func newConversation(store session.Store) *session.Conversation[order, *tidygram.Context] {
	say := func(c *tidygram.Context, next, text string) (string, error) {
		return next, c.Send(text)
	}
	return session.NewConversation[order, *tidygram.Context](store, stepStart, session.WithTTL(10*time.Minute)).
		On(stepStart, func(_ context.Context, c *tidygram.Context, _ *order) (string, error) {
			if c.Text() != "/pizza" {
				return say(c, "", "Send /pizza to order a pizza.")
			}
			return say(c, stepSize, "Which size: small, medium or large?")
		}).
		On(stepSize, func(_ context.Context, c *tidygram.Context, o *order) (string, error) {
			switch size := strings.ToLower(strings.TrimSpace(c.Text())); size {
			case "small", "medium", "large":
				o.Size = size
				return say(c, stepAddress, "Where should we deliver it?")
			}
			return say(c, "", "Please answer small, medium or large.")
		}).
		On(stepAddress, func(_ context.Context, c *tidygram.Context, o *order) (string, error) {
			o.Address = strings.TrimSpace(c.Text())
			return say(c, stepConfirm, fmt.Sprintf("A %s pizza to %s. Confirm? (yes/no)", o.Size, o.Address))
		}).
		On(stepConfirm, func(_ context.Context, c *tidygram.Context, o *order) (string, error) {
			switch strings.ToLower(strings.TrimSpace(c.Text())) {
			case "yes":
				return say(c, stepStart, fmt.Sprintf("Ordered! Your %s pizza is on its way to %s.", o.Size, o.Address))
			case "no":
				return say(c, stepStart, "Order cancelled.")
			}
			return say(c, "", "Please answer yes or no.")
		})
}

// run serves until ctx ends; it returns nil after a clean stop.
func run(ctx context.Context, getenv func(string) string) error {
	// life logs three lines: starting, connected (as whom), stopped.
	life := exlog.Starting("conversation")
	store := session.NewMemory(session.WithMaxEntries(100_000))                                      // bounded: LRU beyond
	bot, err := tidygram.NewFromEnv(getenv, life.Option(), tidygram.WithJanitor(store, time.Minute)) // Run owns the purge loop
	if err != nil {
		return err
	}
	conv := newConversation(store)
	key := func(c *tidygram.Context) string { return conv.Key(c.Chat().ID, c.Sender().ID) }
	bot.OnCommand("cancel", func(c *tidygram.Context) error {
		if err := conv.Reset(c, key(c)); err != nil {
			return err
		}
		return c.Send("Order cancelled.")
	})
	bot.OnText(func(c *tidygram.Context) error { // /pizza and every answer
		if c.Sender() == nil {
			return nil // channel posts have no user to talk to
		}
		_, err := conv.Handle(c, key(c), c)
		return err
	})
	return life.Run(ctx, bot)
}
