// Command commands is a bot with a command menu and an inline keyboard:
// /start greets, /help lists the commands, /order shows buttons, and a
// pressed button is answered (so the client stops its spinner) and the
// message is edited to show the choice.
//
//	TELEGRAM_TOKEN=123:abc go run ./examples/commands
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
	"strings"
	"syscall"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/examples/internal/exlog"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/tg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

// menu is the command menu Telegram clients show next to the input field.
var menu = []tg.BotCommand{
	{Command: "start", Description: "say hello"},
	{Command: "order", Description: "order a drink"},
	{Command: "help", Description: "what I can do"},
}

var drinks = []string{"tea", "coffee", "cocoa"}

// run serves until ctx ends; it returns nil after a clean stop.
func run(ctx context.Context, getenv func(string) string) error {
	// life logs three lines: starting, connected (as whom), stopped.
	life := exlog.Starting("commands")
	bot, err := tidygram.NewFromEnv(getenv, life.Option())
	if err != nil {
		return err
	}
	// The menu is set once at start; a failure is not fatal.
	if err := bot.Client().SetMyCommands(ctx, &tg.SetMyCommandsParams{Commands: menu}); err != nil {
		log.Printf("setMyCommands: %v", err)
	}

	bot.OnCommand("start", func(c *tidygram.Context) error {
		return c.Reply(fmt.Sprintf("Hello, %s! Send /order to order a drink.", c.Sender().FirstName))
	})
	bot.OnCommand("help", func(c *tidygram.Context) error {
		var b strings.Builder
		for _, cmd := range menu {
			fmt.Fprintf(&b, "/%s — %s\n", cmd.Command, cmd.Description)
		}
		return c.Send(strings.TrimSpace(b.String()))
	})
	bot.OnCommand("order", func(c *tidygram.Context) error {
		var row []tg.InlineKeyboardButton
		for _, d := range drinks {
			row = append(row, router.CallbackButton(strings.ToUpper(d[:1])+d[1:], "drink:"+d))
		}
		kb := router.InlineKeyboard(row, router.Row(router.CallbackButton("Cancel", "cancel")))
		return c.Send("What would you like?", router.WithMarkup(kb))
	})
	// Button presses, by the callback data chosen above: "drink:" and what
	// follows, and exactly "cancel". Answer every callback query, or the
	// user's client shows a spinner for a while; edit first, so the message
	// shows the choice when the spinner stops.
	bot.OnCallbackPrefix("drink:", func(c *tidygram.Context) error {
		drink := strings.TrimPrefix(c.CallbackData(), "drink:")
		if err := c.Edit("You ordered " + drink + "."); err != nil { // no keyboard: the buttons go
			return err
		}
		return c.Answer("One " + drink + " coming up!")
	})
	bot.OnCallback("cancel", func(c *tidygram.Context) error {
		if err := c.Edit("Order cancelled."); err != nil {
			return err
		}
		return c.Answer("")
	})
	bot.On(router.AnyCommand(), func(c *tidygram.Context) error {
		return c.Reply("I don't know that command. Try /help.")
	})
	return life.Run(ctx, bot)
}
