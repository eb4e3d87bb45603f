package session_test

import (
	"context"
	"fmt"

	"github.com/tidygram/tidygram/session"
)

// Open and State serve steps handled by routes (package router's
// Conversation): each handler opens the key's state, reads and moves it,
// and commits; only changes are written.
func ExampleConversation_Open() {
	ctx := context.Background()
	type signup struct{ Email string }
	conv := session.NewConversation[signup, any](session.NewMemory(), "").Declare("email", "confirm")
	key := conv.Key(100, 7)

	handle := func(input string) {
		st, err := conv.Open(ctx, key)
		if err != nil {
			panic(err)
		}
		switch st.Step() {
		case "":
			_ = st.Enter("email")
		case "email":
			st.Data().Email = input
			_ = st.Enter("confirm")
		case "confirm":
			if input == "yes" {
				fmt.Println("signed up", st.Data().Email)
			}
			st.End()
		}
		if err := st.Commit(ctx); err != nil {
			panic(err)
		}
		step, _, _ := conv.Current(ctx, key)
		fmt.Printf("%q → at %q\n", input, step)
	}
	for _, in := range []string{"/signup", "ann@example.com", "yes"} {
		handle(in)
	}
	// Output:
	// "/signup" → at "email"
	// "ann@example.com" → at "confirm"
	// signed up ann@example.com
	// "yes" → at ""
}
