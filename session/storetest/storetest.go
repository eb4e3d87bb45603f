// Package storetest is the contract every session.Store keeps, as tests:
// the memory store, the bbolt store and the JetStream KV store run it, and
// so can any Store of your own:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, now func() time.Time) session.Store {
//			return mystore.New(mystore.WithClock(now)) // closed at the end of t
//		})
//	}
//
// It imports testing: only tests import it. It owns the stores Open
// returns for the length of one subtest, and the fake clock it passes as
// now; it never opens storage of its own (every store comes from the
// caller's Open) and never talks to the network.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/session/internal/fakeclock"
)

// Open returns a fresh, empty store that reads the time from now; the
// store is closed at the end of t.
type Open func(t *testing.T, now func() time.Time) session.Store

// Run runs the contract on the stores open returns: values set, got,
// overwritten, deleted and expired; empty keys refused; values copied in
// and out; nothing done with a done context; and, when the store has
// them, Purge and Len, and a Janitor that ends with its context.
func Run(t *testing.T, open Open) {
	t.Run("Contract", func(t *testing.T) { testContract(t, open) })
	t.Run("CopiesValues", func(t *testing.T) { testCopiesValues(t, open) })
	t.Run("ContextDone", func(t *testing.T) { testContextDone(t, open) })
	t.Run("Purge", func(t *testing.T) { testPurge(t, open) })
	t.Run("Janitor", func(t *testing.T) { testJanitorEndsWithContext(t, open) })
}

func testContract(t *testing.T, open Open) {
	ctx := context.Background()
	type step struct {
		op      string // set, get, del, advance
		key     string
		value   string
		ttl     time.Duration
		want    string // for get
		wantErr error  // for get/set/del
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"absent", []step{{op: "get", key: "a", wantErr: session.ErrNotFound}}},
		{"set get", []step{
			{op: "set", key: "a", value: "1"},
			{op: "get", key: "a", want: "1"},
		}},
		{"overwrite", []step{
			{op: "set", key: "a", value: "1"},
			{op: "set", key: "a", value: "22"},
			{op: "get", key: "a", want: "22"},
		}},
		{"empty value", []step{
			{op: "set", key: "a", value: ""},
			{op: "get", key: "a", want: ""},
		}},
		{"delete", []step{
			{op: "set", key: "a", value: "1"},
			{op: "del", key: "a"},
			{op: "get", key: "a", wantErr: session.ErrNotFound},
			{op: "del", key: "a"},
		}},
		{"ttl alive before expiry", []step{
			{op: "set", key: "a", value: "1", ttl: time.Hour},
			{op: "advance", ttl: time.Hour - time.Nanosecond},
			{op: "get", key: "a", want: "1"},
		}},
		{"ttl expired at expiry", []step{
			{op: "set", key: "a", value: "1", ttl: time.Hour},
			{op: "advance", ttl: time.Hour},
			{op: "get", key: "a", wantErr: session.ErrNotFound},
		}},
		{"no ttl never expires", []step{
			{op: "set", key: "a", value: "1"},
			{op: "advance", ttl: 10 * 365 * 24 * time.Hour},
			{op: "get", key: "a", want: "1"},
		}},
		{"set renews ttl", []step{
			{op: "set", key: "a", value: "1", ttl: time.Hour},
			{op: "advance", ttl: 50 * time.Minute},
			{op: "set", key: "a", value: "2", ttl: time.Hour},
			{op: "advance", ttl: 50 * time.Minute},
			{op: "get", key: "a", want: "2"},
		}},
		{"keys independent", []step{
			{op: "set", key: "a", value: "1", ttl: time.Minute},
			{op: "set", key: "b", value: "2", ttl: time.Hour},
			{op: "advance", ttl: 2 * time.Minute},
			{op: "get", key: "a", wantErr: session.ErrNotFound},
			{op: "get", key: "b", want: "2"},
		}},
		{"empty key", []step{
			{op: "set", key: "", value: "1", wantErr: session.ErrNoKey},
			{op: "get", key: "", wantErr: session.ErrNoKey},
			{op: "del", key: "", wantErr: session.ErrNoKey},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New()
			s := open(t, clock.Now)
			for i, st := range tt.steps {
				var err error
				switch st.op {
				case "set":
					err = s.Set(ctx, st.key, []byte(st.value), st.ttl)
				case "del":
					err = s.Delete(ctx, st.key)
				case "advance":
					clock.Advance(st.ttl)
				case "get":
					var got []byte
					got, err = s.Get(ctx, st.key)
					if err == nil && string(got) != st.want {
						t.Fatalf("step %d: Get(%q) = %q, want %q", i, st.key, got, st.want)
					}
				}
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("step %d (%s %q): err = %v, want %v", i, st.op, st.key, err, st.wantErr)
				}
			}
		})
	}
}

func testCopiesValues(t *testing.T, open Open) {
	ctx := context.Background()
	s := open(t, fakeclock.New().Now)
	in := []byte("hello")
	if err := s.Set(ctx, "k", in, 0); err != nil {
		t.Fatal(err)
	}
	in[0] = 'J' // the caller reuses its buffer
	out, err := s.Get(ctx, "k")
	if err != nil || string(out) != "hello" {
		t.Fatalf("Get = %q, %v; want hello (value aliased the caller's slice)", out, err)
	}
	out[0] = 'Y' // the caller changes what it got
	again, _ := s.Get(ctx, "k")
	if !bytes.Equal(again, []byte("hello")) {
		t.Fatalf("Get after changing a returned slice = %q, want hello", again)
	}
}

func testContextDone(t *testing.T, open Open) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	s := open(t, fakeclock.New().Now)
	if err := s.Set(context.Background(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"get": func() error { _, err := s.Get(done, "k"); return err },
		"set": func() error { return s.Set(done, "k", []byte("other"), 0) },
		"del": func() error { return s.Delete(done, "k") },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled ctx: err = %v, want context.Canceled", name, err)
		}
	}
	// Nothing was done.
	if got, err := s.Get(context.Background(), "k"); err != nil || string(got) != "v" {
		t.Fatalf("after cancelled ops Get = %q, %v; want v", got, err)
	}
}

func testPurge(t *testing.T, open Open) {
	ctx := context.Background()
	type purger interface {
		session.Store
		Purge(context.Context) (int, error)
		Len() int
	}
	clock := fakeclock.New()
	s, ok := open(t, clock.Now).(purger)
	if !ok {
		t.Skip("the store has no Purge and Len")
	}
	const n = 2500 // more than one bolt purge batch
	for i := range n {
		ttl := time.Hour
		if i%5 == 0 {
			ttl = 0 // never expires
		}
		if err := s.Set(ctx, key(i), []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	if removed, err := s.Purge(ctx); err != nil || removed != 0 {
		t.Fatalf("Purge before expiry = %d, %v; want 0", removed, err)
	}
	clock.Advance(time.Hour)
	removed, err := s.Purge(ctx)
	if err != nil || removed != n*4/5 {
		t.Fatalf("Purge = %d, %v; want %d", removed, err, n*4/5)
	}
	if got := s.Len(); got != n/5 {
		t.Fatalf("Len after purge = %d, want %d", got, n/5)
	}
	if _, err := s.Get(ctx, key(0)); err != nil {
		t.Fatalf("entry without ttl: %v", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Purge(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Purge with cancelled ctx: %v", err)
	}
}

func testJanitorEndsWithContext(t *testing.T, open Open) {
	clock := fakeclock.New()
	s, ok := open(t, clock.Now).(interface {
		session.Store
		Janitor(context.Context, time.Duration) error
		Len() int
	})
	if !ok {
		t.Skip("the store has no Janitor and Len")
	}
	ctx := context.Background()
	for i := range 10 {
		if err := s.Set(ctx, key(i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	jctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Janitor(jctx, time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Janitor returned %v, want nil", err)
	}
	if n := s.Len(); n != 0 {
		t.Fatalf("Len after janitor = %d, want 0", n)
	}
}

func key(i int) string { return session.ChatKey(int64(i)+1, 0) }
