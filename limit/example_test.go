package limit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// Install the Control on a client: sends wait for their turn under
// Telegram's limits, 429s are waited out and retried, and calls that may
// have been performed are not repeated. Here against the emulator with
// its flood control on.
func ExampleControl() {
	emu := tgtest.NewServer(tgtest.WithFlood(tgtest.FloodLimits{}))
	defer emu.Close()

	ctl, err := limit.New(limit.WithRetries(3))
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := tg.NewClient(emu.Token(), tg.WithBaseURL(emu.URL()), tg.WithMiddleware(ctl.Middleware()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	chat := tg.ID(emu.NewUser("ann").ChatID())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 5 { // 3 at once (the chat's burst), then one a second
		if _, err := client.SendMessage(ctx, &tg.SendMessageParams{ChatID: chat, Text: fmt.Sprint("message ", i)}); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("sent:", ctl.Stats().Calls, "429s:", emu.Counters().FloodRejections)
	// Output:
	// sent: 5 429s: 0
}

// A Local limiter used directly: Wait blocks until the chat may get one
// more message, or until ctx ends.
func ExampleLocal() {
	lim, err := limit.NewLocal(limit.WithChat(limit.Per(1, time.Second, 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	chat := tg.ID(42)
	start := time.Now()
	for range 2 {
		if err := lim.Wait(ctx, chat); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("second message waited about a second:", time.Since(start).Round(time.Second))

	lim.Pause(chat, time.Hour) // as a 429 with retry_after=3600 would
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	fmt.Println(lim.Wait(ctx, chat) != nil) // fails at once: the turn is after the deadline
	// Output:
	// second message waited about a second: 1s
	// true
}
