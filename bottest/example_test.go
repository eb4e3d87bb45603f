package bottest_test

import (
	"context"
	"testing"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/tgtest"
)

// A bot's test: the emulator, the bot against it, a user talking to it.
// At the end of the test the bot is stopped, and the test fails if Run
// returned an error (a *tidygram.LeakError if a handler leaked).
func Example() {
	_ = func(t *testing.T) {
		srv := tgtest.NewServer(tgtest.WithTB(t)) // Bot API emulator on 127.0.0.1, closed with the test
		bot := bottest.New(t, srv)                // WithBaseURL(srv.URL()), WithStrictLeaks()
		bot.OnCommand("start", func(c *tidygram.Context) error { return c.Reply("Hello!") })
		bottest.Run(t, bot)

		alice := srv.NewUser("Alice")
		bottest.Expect(t, alice, "/start", "Hello!")
		// … or send yourself and look closer: alice.Press(msg, "vote:1"), bottest.Reply(t, alice).Buttons()
	}
}

// A program whose run function reads its configuration from the
// environment runs against the emulator with Env.
func ExampleStart() {
	run := func(ctx context.Context, getenv func(string) string) error {
		bot, err := tidygram.NewFromEnv(getenv)
		if err != nil {
			return err
		}
		bot.OnText(func(c *tidygram.Context) error { return c.Reply(c.Text()) })
		return bot.Run(ctx)
	}
	_ = func(t *testing.T) {
		srv := tgtest.NewServer(tgtest.WithTB(t))
		bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
		bottest.Expect(t, srv.NewUser("Bob"), "hi", "hi")
	}
}
