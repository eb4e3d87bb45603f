package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type order struct {
	Size string `json:"size,omitempty"`
	Name string `json:"name,omitempty"`
}

// newOrderConv asks for a size, then a name, then ends.
func newOrderConv(store Store, clock *fakeClock) *Conversation[order, string] {
	return NewConversation[order, string](store, "idle", WithClock(clock.Now), WithTTL(5*time.Minute)).
		On("idle", func(_ context.Context, in string, _ *order) (string, error) {
			if in == "/order" {
				return "size", nil
			}
			return "", nil
		}).
		On("size", func(_ context.Context, in string, o *order) (string, error) {
			if in != "S" && in != "L" {
				return "", errors.New("size must be S or L")
			}
			o.Size = in
			return "name", nil
		}).
		On("name", func(_ context.Context, in string, o *order) (string, error) {
			o.Name = in
			return "idle", nil
		})
}

func TestConversation(t *testing.T) {
	ctx := context.Background()
	type step struct {
		in       string
		advance  time.Duration // before the input
		wantStep string
		wantErr  string
		wantData order
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"walk through", []step{
			{in: "hello", wantStep: "idle"},
			{in: "/order", wantStep: "size"},
			{in: "L", wantStep: "name", wantData: order{Size: "L"}},
			{in: "Ann", wantStep: "idle"},
		}},
		{"bad input stays", []step{
			{in: "/order", wantStep: "size"},
			{in: "XL", wantStep: "size", wantErr: "size must be"},
			{in: "S", wantStep: "name", wantData: order{Size: "S"}},
		}},
		{"timeout returns to start", []step{
			{in: "/order", wantStep: "size"},
			{in: "L", advance: 4 * time.Minute, wantStep: "name", wantData: order{Size: "L"}},
			// 5 minutes after the last move: back at idle, data gone.
			{in: "Bob", advance: 5 * time.Minute, wantStep: "idle"},
		}},
		{"each move restarts the timeout", []step{
			{in: "/order", wantStep: "size"},
			{in: "S", advance: 4 * time.Minute, wantStep: "name", wantData: order{Size: "S"}},
			{in: "Cy", advance: 4 * time.Minute, wantStep: "idle"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			store := NewMemory(WithClock(clock.Now))
			conv := newOrderConv(store, clock)
			key := conv.Key(100, 7)
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				got, err := conv.Handle(ctx, key, st.in)
				if st.wantErr == "" && err != nil || st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)) {
					t.Fatalf("step %d (%q): err = %v, want %q", i, st.in, err, st.wantErr)
				}
				step, data, err := conv.Current(ctx, key)
				if err != nil || got != st.wantStep || step != st.wantStep || data != st.wantData {
					t.Fatalf("step %d (%q): Handle = %q, Current = %q %+v %v; want %q %+v",
						i, st.in, got, step, data, err, st.wantStep, st.wantData)
				}
			}
			// Ending at the start step leaves nothing stored.
			if step, _, _ := conv.Current(ctx, key); step == "idle" && store.Len() != 0 {
				t.Fatalf("conversation at start still stored (%d entries)", store.Len())
			}
		})
	}
}

func TestConversationEnterReset(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	conv := newOrderConv(NewMemory(WithClock(clock.Now)), clock)
	key := conv.Key(1, 2)
	if err := conv.Enter(ctx, key, "name"); err != nil {
		t.Fatal(err)
	}
	if step, _, _ := conv.Current(ctx, key); step != "name" {
		t.Fatalf("after Enter: %q", step)
	}
	if err := conv.Enter(ctx, key, "nowhere"); err == nil {
		t.Fatal("Enter of an unregistered step succeeded")
	}
	if err := conv.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	if step, _, _ := conv.Current(ctx, key); step != "idle" {
		t.Fatalf("after Reset: %q", step)
	}
	if _, err := conv.Handle(ctx, "", "x"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Handle with empty key: %v", err)
	}
}

func TestConversationOnPanics(t *testing.T) {
	noop := func(context.Context, int, *int) (string, error) { return "", nil }
	for name, register := range map[string]func(c *Conversation[int, int]){
		"empty name": func(c *Conversation[int, int]) { c.On("", noop) },
		"nil func":   func(c *Conversation[int, int]) { c.On("a", nil) },
		"duplicate":  func(c *Conversation[int, int]) { c.On("a", noop).On("a", noop) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("On did not panic")
				}
			}()
			register(NewConversation[int, int](NewMemory(), "a"))
		})
	}
}

// counting counts the writes and deletes a store sees. It keeps values
// twice as long as asked, as a store may: the conversation checks its
// timeout itself.
type counting struct {
	Store
	sets, deletes int
}

func (s *counting) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.sets++
	return s.Store.Set(ctx, key, value, 2*ttl)
}

func (s *counting) Delete(ctx context.Context, key string) error {
	s.deletes++
	return s.Store.Delete(ctx, key)
}

// State: routed steps open, change and commit a key's conversation; only
// what changed is written, and a timeout or End brings the key back.
func TestConversationState(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := &counting{Store: NewMemory(WithClock(clock.Now))}
	conv := NewConversation[order, string](store, "", WithClock(clock.Now), WithTTL(5*time.Minute)).Declare("size", "name")
	key := conv.Key(1, 2)

	type step struct {
		advance time.Duration
		do      func(st *State[order]) error
		// after Commit:
		step          string
		data          order
		sets, deletes int // store calls so far
	}
	steps := []step{
		{do: func(st *State[order]) error { return nil }, step: ""},                                 // nobody in a conversation: no store call
		{do: func(st *State[order]) error { st.End(); return nil }, step: ""},                       // End without one: none either
		{do: func(st *State[order]) error { return st.Enter("size") }, step: "size", sets: 1},       // starts
		{advance: time.Minute, do: func(*State[order]) error { return nil }, step: "size", sets: 1}, // only read: nothing written
		{do: func(st *State[order]) error { st.Data().Size = "L"; return nil }, step: "size", data: order{Size: "L"}, sets: 2},
		{advance: 4 * time.Minute, do: func(st *State[order]) error { return st.Enter("size") }, step: "size", data: order{Size: "L"}, sets: 3}, // re-entering restarts the timeout
		{advance: 4 * time.Minute, do: func(st *State[order]) error { return st.Enter("name") }, step: "name", data: order{Size: "L"}, sets: 4},
		{advance: 5 * time.Minute, do: func(st *State[order]) error { // timed out: opens at the start
			if st.Step() != "" || st.Active() || *st.Data() != (order{}) {
				return errors.New("timed-out state still open at " + st.Step())
			}
			return nil
		}, step: "", sets: 4, deletes: 1},
		{do: func(st *State[order]) error { return st.Enter("name") }, step: "name", sets: 5, deletes: 1},
		{do: func(st *State[order]) error { st.Data().Name = "Ann"; st.End(); return nil }, step: "", sets: 5, deletes: 2}, // cancelled
		{do: func(st *State[order]) error { return st.Enter("nowhere") }, step: "", sets: 5, deletes: 2},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		st, err := conv.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.do(st); err != nil && !strings.Contains(err.Error(), "not registered") {
			t.Fatalf("step %d: %v", i, err)
		}
		if err := st.Commit(ctx); err != nil {
			t.Fatalf("step %d: commit: %v", i, err)
		}
		step, data, err := conv.Current(ctx, key)
		if err != nil || step != s.step || data != s.data || store.sets != s.sets || store.deletes != s.deletes {
			t.Fatalf("step %d: at %q %+v (%v), %d sets %d deletes; want %q %+v, %d sets %d deletes",
				i, step, data, err, store.sets, store.deletes, s.step, s.data, s.sets, s.deletes)
		}
	}
	if _, err := conv.Open(ctx, ""); !errors.Is(err, ErrNoKey) {
		t.Errorf("Open with an empty key: %v", err)
	}
	// A declared step has no StepFunc for Handle.
	if err := conv.Enter(ctx, key, "size"); err != nil {
		t.Fatal(err)
	}
	if _, err := conv.Handle(ctx, key, "x"); err == nil || !strings.Contains(err.Error(), "no handler") {
		t.Errorf("Handle at a declared step: %v", err)
	}
	if !conv.Has("size") || conv.Has("nowhere") || conv.Start() != "" {
		t.Error("Has/Start")
	}
}
