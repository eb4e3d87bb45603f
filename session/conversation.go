package session

import (
	"context"
	"fmt"
)

// StepFunc handles one input at the current step of a conversation. It
// may change data and returns the next step: "" to stay at the current
// step, the start step to end the conversation (its data is dropped), or
// any registered step.
type StepFunc[D, In any] func(ctx context.Context, in In, data *D) (next string, err error)

// Conversation is a step machine per session key (per chat and user by
// default) built on a Store: each key is at one named step with data D.
// A key that has not moved for the timeout (WithTTL, default
// DefaultConversationTimeout) is back at the start step with zero data.
// In is the type of input the steps receive (the runtime's update or
// context); Conversation does not depend on it.
//
// Register every step with On before the first Handle; after that, a
// Conversation is safe for concurrent use by different keys. Calls for
// one key must not overlap (the dispatcher runs one handler per chat at a
// time).
type Conversation[D, In any] struct {
	sess  *Session[convState[D]]
	start string
	steps map[string]StepFunc[D, In]
}

type convState[D any] struct {
	Step  string `json:"step"`
	Data  D      `json:"data"`
	Until int64  `json:"until"` // Unix ns
}

// NewConversation returns a Conversation starting at step start, keeping
// its state in store. It reads WithTTL (the timeout), WithClock, WithKey,
// WithCodec and WithPrefix (default "conv:").
func NewConversation[D, In any](store Store, start string, opts ...Option) *Conversation[D, In] {
	sess := New[convState[D]](store, append([]Option{WithPrefix("conv:"), WithTTL(DefaultConversationTimeout)}, opts...)...)
	return &Conversation[D, In]{sess: sess, start: start, steps: make(map[string]StepFunc[D, In])}
}

// On registers fn for step name and returns c. It panics on an empty name
// or a name registered twice, as http.ServeMux does.
func (c *Conversation[D, In]) On(name string, fn StepFunc[D, In]) *Conversation[D, In] {
	if name == "" || fn == nil {
		panic("session: conversation step needs a name and a func")
	}
	if _, dup := c.steps[name]; dup {
		panic(fmt.Sprintf("session: conversation step %q registered twice", name))
	}
	c.steps[name] = fn
	return c
}

// Key returns the key of a chat and user's conversation ("" when the
// KeyFunc has no key for them).
func (c *Conversation[D, In]) Key(chatID, userID int64) string { return c.sess.Key(chatID, userID) }

// Current returns the step key is at and its data: the start step and
// zero data when there is no conversation or it timed out.
func (c *Conversation[D, In]) Current(ctx context.Context, key string) (step string, data D, err error) {
	st, err := c.current(ctx, key)
	return st.Step, st.Data, err
}

func (c *Conversation[D, In]) current(ctx context.Context, key string) (convState[D], error) {
	if key == "" {
		return convState[D]{}, ErrNoKey
	}
	st, err := c.sess.Load(ctx, key)
	if err != nil {
		return convState[D]{}, err
	}
	if st.Step == "" || c.sess.cfg.clock().UnixNano() >= st.Until {
		return convState[D]{Step: c.start}, nil
	}
	return st, nil
}

// Enter moves key to step, keeping its data, and restarts its timeout.
// Entering the start step ends the conversation.
func (c *Conversation[D, In]) Enter(ctx context.Context, key, step string) error {
	st, err := c.current(ctx, key)
	if err != nil {
		return err
	}
	return c.move(ctx, key, st, step)
}

// Reset ends key's conversation: it is back at the start step.
func (c *Conversation[D, In]) Reset(ctx context.Context, key string) error {
	return c.sess.Delete(ctx, key)
}

// Handle runs the StepFunc of key's current step with in, then moves to
// the step it returns. When the StepFunc fails, the state is left as it
// was and its error is returned. Handle returns the step key is at
// afterwards.
func (c *Conversation[D, In]) Handle(ctx context.Context, key string, in In) (string, error) {
	st, err := c.current(ctx, key)
	if err != nil {
		return "", err
	}
	fn, ok := c.steps[st.Step]
	if !ok {
		return st.Step, fmt.Errorf("session: conversation step %q has no handler", st.Step)
	}
	next, err := fn(ctx, in, &st.Data)
	if err != nil {
		return st.Step, err
	}
	if next == "" {
		next = st.Step
	}
	if err := c.move(ctx, key, st, next); err != nil {
		return st.Step, err
	}
	return next, nil
}

func (c *Conversation[D, In]) move(ctx context.Context, key string, st convState[D], step string) error {
	if step == c.start {
		return c.sess.Delete(ctx, key)
	}
	if _, ok := c.steps[step]; !ok {
		return fmt.Errorf("session: conversation step %q is not registered", step)
	}
	st.Step = step
	st.Until = c.sess.cfg.clock().Add(c.sess.cfg.ttl).UnixNano()
	return c.sess.Save(ctx, key, st)
}
