package session

import (
	"bytes"
	"context"
	"fmt"
	"time"
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
// Steps run two ways: a StepFunc per step (On) driven by Handle, or —
// with package router's Conversation — routes that match the step like
// commands, with the steps declared by Declare and each handler's view of
// the state opened by Open and written by State.Commit.
//
// Register every step with On or Declare before the first Handle or
// Open; after that, a Conversation is safe for concurrent use by different
// keys. Calls for one key must not overlap (the dispatcher runs one
// handler per chat at a time).
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
// WithCodec and WithPrefix (default "conv:"). Given an invalid option
// value (see OptionError), every operation of the Conversation returns
// that error, which Err reports at once.
func NewConversation[D, In any](store Store, start string, opts ...Option) *Conversation[D, In] {
	sess := New[convState[D]](store, append([]Option{WithPrefix("conv:"), WithTTL(DefaultConversationTimeout)}, opts...)...)
	return &Conversation[D, In]{sess: sess, start: start, steps: make(map[string]StepFunc[D, In])}
}

// On registers fn for step name and returns c. It panics on an empty name
// or a name registered twice, as http.ServeMux does.
func (c *Conversation[D, In]) On(name string, fn StepFunc[D, In]) *Conversation[D, In] {
	if fn == nil {
		panic("session: conversation step needs a name and a func")
	}
	c.register(name, fn)
	return c
}

// Declare registers steps whose input is handled elsewhere — by routes of
// package router that match the step — rather than by a StepFunc; Handle
// at such a step returns an error. It panics on an empty name or a name
// registered twice.
func (c *Conversation[D, In]) Declare(names ...string) *Conversation[D, In] {
	for _, name := range names {
		c.register(name, nil)
	}
	return c
}

func (c *Conversation[D, In]) register(name string, fn StepFunc[D, In]) {
	if name == "" {
		panic("session: conversation step needs a name and a func")
	}
	if _, dup := c.steps[name]; dup {
		panic(fmt.Sprintf("session: conversation step %q registered twice", name))
	}
	c.steps[name] = fn
}

// Err returns the error of the options the Conversation was built with,
// or nil. With an error, Current, Enter, Reset, Handle and Open return it.
func (c *Conversation[D, In]) Err() error { return c.sess.Err() }

// Start returns the start step: where a key without a conversation is.
func (c *Conversation[D, In]) Start() string { return c.start }

// Has reports whether step is registered (On or Declare).
func (c *Conversation[D, In]) Has(step string) bool {
	_, ok := c.steps[step]
	return ok
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
	fn := c.steps[st.Step]
	if fn == nil {
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

// Open loads key's conversation into a State that one handler reads and
// changes (Step, Data, Enter, End); State.Commit then writes what changed.
// A conversation that timed out opens at the start step with zero data.
// It returns ErrNoKey for an empty key. With a Versioned store, Commit
// writes only over the version Open read (see Scope.Commit).
func (c *Conversation[D, In]) Open(ctx context.Context, key string) (*State[D], error) {
	sc, err := c.sess.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	st := &State[D]{
		sc:     sc,
		start:  c.start,
		has:    c.Has,
		codec:  c.sess.cfg.codec,
		clock:  c.sess.cfg.clock,
		ttl:    c.sess.cfg.ttl,
		stored: sc.Value().Step != "",
	}
	v := sc.Value()
	if v.Step == "" || c.sess.cfg.clock().UnixNano() >= v.Until {
		*v = convState[D]{} // none, or timed out: at the start
	}
	st.orig, err = st.encode()
	if err != nil {
		return nil, err
	}
	return st, nil
}

// State is one handler's view of a key's conversation, opened by
// Conversation.Open: the step, the data, and the moves the handler makes.
// Nothing is written until Commit. A State is not safe for concurrent
// use.
type State[D any] struct {
	sc     *Scope[convState[D]]
	start  string
	has    func(step string) bool
	codec  Codec
	clock  func() time.Time
	ttl    time.Duration
	stored bool   // the store held a state (maybe timed out) when opened
	orig   []byte // encoding of step and data as opened
	moved  bool   // Enter was called
}

// Key returns the conversation's key.
func (s *State[D]) Key() string { return s.sc.Key() }

// Step returns the current step: the start step when there is no
// conversation.
func (s *State[D]) Step() string {
	if step := s.sc.Value().Step; step != "" {
		return step
	}
	return s.start
}

// Active reports whether a conversation is under way (the step is not the
// start step).
func (s *State[D]) Active() bool { return s.Step() != s.start }

// Data returns a pointer to the conversation's data; changes through it
// are written by Commit (while a conversation is under way: at the start
// step there is no data to keep).
func (s *State[D]) Data() *D { return &s.sc.Value().Data }

// Enter moves to step, keeping the data, and restarts the timeout when
// committed (entering the current step again restarts it too). Entering
// the start step is End. It returns an error for a step not registered.
func (s *State[D]) Enter(step string) error {
	if step == s.start {
		s.End()
		return nil
	}
	if !s.has(step) {
		return fmt.Errorf("session: conversation step %q is not registered", step)
	}
	s.sc.Value().Step = step
	s.moved = true
	return nil
}

// End ends the conversation: back at the start step, the data dropped.
func (s *State[D]) End() {
	*s.sc.Value() = convState[D]{}
	s.moved = true
}

func (s *State[D]) encode() ([]byte, error) {
	v := s.sc.Value()
	raw, err := s.codec.Marshal(convState[D]{Step: v.Step, Data: v.Data})
	if err != nil {
		return nil, fmt.Errorf("session: encode %q: %w", s.Key(), err)
	}
	return raw, nil
}

// Commit writes the conversation if it changed: under way, it saves the
// step and data and restarts the timeout when the handler entered a step
// or changed the data; ended (or timed out), it deletes what the store
// held. Unchanged, it writes nothing — a handler that only reads does not
// restart the timeout, and a key that never had a conversation costs no
// store call.
func (s *State[D]) Commit(ctx context.Context) error {
	v := s.sc.Value()
	if v.Step == "" || v.Step == s.start {
		if !s.stored {
			return nil
		}
		s.sc.Clear()
		if err := s.sc.Commit(ctx); err != nil {
			return err
		}
		s.stored, s.moved = false, false
		s.orig, _ = s.encode()
		return nil
	}
	raw, err := s.encode()
	if err != nil {
		return err
	}
	if !s.moved && bytes.Equal(raw, s.orig) {
		return nil
	}
	v.Until = s.clock().Add(s.ttl).UnixNano()
	if err := s.sc.Commit(ctx); err != nil {
		return err
	}
	s.stored, s.moved, s.orig = true, false, raw
	return nil
}
