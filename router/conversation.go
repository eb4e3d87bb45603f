package router

import (
	"fmt"
	"slices"

	"github.com/tidygram/tidygram/session"
)

// Conversation routes the steps of a multi-step dialogue like commands: a
// session.Conversation keeps each chat and user's step and data D in any
// session.Store, its middleware loads them into the Context before
// routing, and the filters In, Active and InStep send each update to the
// route of its step:
//
//	order := router.NewConversation[Order](store, session.WithTTL(10*time.Minute)).Steps("size", "address")
//	r.UseOuter(order.Middleware())
//	r.When(order.Active()).OnCommand("cancel", func(c *router.Context) error {
//		order.State(c).End()
//		return c.Reply("Cancelled.")
//	})
//	r.When(order.In("size")).OnText(func(c *router.Context) error {
//		st := order.State(c)
//		st.Data().Size = c.Text()
//		st.Enter("address")
//		return c.Reply("Where to?")
//	})
//	r.OnCommand("order", func(c *router.Context) error {
//		order.State(c).Enter("size")
//		return c.Reply("Which size?")
//	})
//
// Outside a conversation a key is at the start step "". A key whose step
// and data have not changed for the timeout (session.WithTTL, default
// session.DefaultConversationTimeout) is back at the start step, its data
// gone; End cancels at once. The state is written once per update, after
// the handler returned nil, and only if it changed; a handler error
// discards the changes, so a redelivered update meets the state its first
// attempt met.
type Conversation[D any] struct {
	conv *session.Conversation[D, *Context]
}

// NewConversation returns a Conversation of data D kept in store. It reads
// session.WithTTL (the timeout), WithKey (default per chat and user),
// WithPrefix (default "conv:"; conversations sharing a store need
// different ones), WithCodec and WithClock. Declare its steps with Steps.
func NewConversation[D any](store session.Store, opts ...session.Option) *Conversation[D] {
	return &Conversation[D]{conv: session.NewConversation[D, *Context](store, "", opts...)}
}

// Steps declares the steps routes will match (In) and handlers may Enter,
// and returns cv. It panics on an empty or repeated name; register before
// the bot runs.
func (cv *Conversation[D]) Steps(names ...string) *Conversation[D] {
	cv.conv.Declare(names...)
	return cv
}

// Session returns the underlying session.Conversation, for reading or
// moving a key's conversation outside a handler (Current, Enter, Reset).
func (cv *Conversation[D]) Session() *session.Conversation[D, *Context] { return cv.conv }

// convKey is the context key of a conversation's State; stepKey the key of
// the innermost conversation's, for InStep.
type (
	convKey struct{ cv any }
	stepKey struct{}
)

// stepper is what InStep reads.
type stepper interface{ Step() string }

// Middleware returns the middleware that opens the update's conversation
// (by chat and user) into the Context, runs next and commits it when next
// returns nil. Install it with UseOuter, on the root or on the group whose
// routes use the filters: the filters read what it loaded, and inner
// middleware (Use) runs only after routing. Updates without a chat or a
// user (inline queries, polls) get no state: the filters do not match and
// State returns nil. It costs one store read per update it sees, and a
// write only when a handler changed the conversation.
func (cv *Conversation[D]) Middleware() Middleware {
	return func(next Handler) Handler {
		return func(c *Context) error {
			var chatID, userID int64
			if ch := c.Chat(); ch != nil {
				chatID = ch.ID
			}
			if u := c.Sender(); u != nil {
				userID = u.ID
			}
			key := cv.conv.Key(chatID, userID)
			if key == "" {
				return next(c.WithValue(convKey{cv}, (*session.State[D])(nil)))
			}
			st, err := cv.conv.Open(c, key)
			if err != nil {
				return fmt.Errorf("router: conversation: %w", err)
			}
			if err := next(c.WithValue(convKey{cv}, st).WithValue(stepKey{}, st)); err != nil {
				return err
			}
			if err := st.Commit(c); err != nil {
				return fmt.Errorf("router: conversation: %w", err)
			}
			return nil
		}
	}
}

// State returns the update's conversation state, loaded by Middleware:
// read and change it in the handler (Step, Data, Enter, End); it is
// written after the handler returns nil. It returns nil for an update
// without a chat or user, and panics when Middleware did not run for c
// (it must be installed with UseOuter).
func (cv *Conversation[D]) State(c *Context) *session.State[D] {
	st, ok := c.Value(convKey{cv}).(*session.State[D])
	if !ok {
		panic("router: Conversation.State: its Middleware did not run for this update (install it with UseOuter)")
	}
	return st
}

// state is State without the panic.
func (cv *Conversation[D]) state(c *Context) *session.State[D] {
	st, _ := c.Value(convKey{cv}).(*session.State[D])
	return st
}

// In matches updates whose chat and user are at one of steps.
func (cv *Conversation[D]) In(steps ...string) ContextFilter {
	for _, s := range steps {
		if !cv.conv.Has(s) {
			panic(fmt.Sprintf("router: Conversation.In(%q): not a step (declare it with Steps)", s))
		}
	}
	return func(c *Context) bool {
		st := cv.state(c)
		return st != nil && slices.Contains(steps, st.Step())
	}
}

// Active matches updates whose chat and user are in a conversation (at any
// step but the start), for routes such as /cancel.
func (cv *Conversation[D]) Active() ContextFilter {
	return func(c *Context) bool {
		st := cv.state(c)
		return st != nil && st.Active()
	}
}

// InStep matches updates whose chat and user are at one of steps of the
// conversation whose middleware ran last (the innermost one, when several
// are installed): a shorthand for Conversation.In when a bot has one
// conversation.
//
//	r.When(router.InStep("address")).OnText(saveAddress)
func InStep(steps ...string) ContextFilter {
	return func(c *Context) bool {
		st, ok := c.Value(stepKey{}).(stepper)
		return ok && slices.Contains(steps, st.Step())
	}
}
