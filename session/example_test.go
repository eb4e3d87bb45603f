package session_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tidygram/tidygram/session"
)

// A conversation asking for a pizza size and an address. In a bot, the
// runtime calls Handle from a message handler with the message text.
func ExampleConversation() {
	ctx := context.Background()
	type pizza struct{ Size, Address string }
	conv := session.NewConversation[pizza, string](session.NewMemory(), "start", session.WithTTL(5*time.Minute)).
		On("start", func(_ context.Context, text string, _ *pizza) (string, error) {
			if text == "/pizza" {
				fmt.Println("bot: which size?")
				return "size", nil
			}
			return "", nil // stay
		}).
		On("size", func(_ context.Context, text string, p *pizza) (string, error) {
			p.Size = text
			fmt.Println("bot: where to?")
			return "address", nil
		}).
		On("address", func(_ context.Context, text string, p *pizza) (string, error) {
			p.Address = text
			fmt.Printf("bot: a %s pizza to %s is on its way\n", p.Size, p.Address)
			return "start", nil // done
		})

	key := conv.Key(-100123, 42) // chat and user of the update
	for _, text := range []string{"/pizza", "large", "Main St 1"} {
		fmt.Println("user:", text)
		if _, err := conv.Handle(ctx, key, text); err != nil {
			fmt.Println("error:", err)
		}
	}
	step, _, _ := conv.Current(ctx, key)
	fmt.Println("step:", step)
	// Output:
	// user: /pizza
	// bot: which size?
	// user: large
	// bot: where to?
	// user: Main St 1
	// bot: a large pizza to Main St 1 is on its way
	// step: start
}

// Typed session access as a runtime wires it: Do loads the value before
// the handler and saves it after, and the handler finds it with From.
func ExampleSession_Do() {
	ctx := context.Background()
	type counter struct{ Messages int }
	store := session.NewMemory(session.WithMaxEntries(10_000))
	sess := session.New[counter](store, session.WithKey(session.ChatKey))

	handler := func(ctx context.Context) error {
		c, _ := session.From[counter](ctx)
		c.Messages++
		fmt.Println("messages in this chat:", c.Messages)
		return nil
	}
	for range 3 {
		key := sess.Key(-100123, 42)
		if err := sess.Do(ctx, key, func(ctx context.Context, _ *counter) error { return handler(ctx) }); err != nil {
			fmt.Println("error:", err)
		}
	}
	fmt.Println("sessions stored:", store.Len())
	// Output:
	// messages in this chat: 1
	// messages in this chat: 2
	// messages in this chat: 3
	// sessions stored: 1
}
