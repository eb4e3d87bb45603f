package session

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// storeKind builds a fresh store of one kind on a fake clock.
type storeKind struct {
	name string
	open func(t *testing.T, clock *fakeClock) Store
}

func storeKinds() []storeKind {
	return []storeKind{
		{"memory", func(t *testing.T, clock *fakeClock) Store {
			return NewMemory(WithClock(clock.Now))
		}},
		{"bolt", func(t *testing.T, clock *fakeClock) Store {
			b, err := OpenBolt(filepath.Join(t.TempDir(), "s.db"), WithClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}},
	}
}

func TestStoreContract(t *testing.T) {
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
		{"absent", []step{{op: "get", key: "a", wantErr: ErrNotFound}}},
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
			{op: "get", key: "a", wantErr: ErrNotFound},
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
			{op: "get", key: "a", wantErr: ErrNotFound},
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
			{op: "get", key: "a", wantErr: ErrNotFound},
			{op: "get", key: "b", want: "2"},
		}},
		{"empty key", []step{
			{op: "set", key: "", value: "1", wantErr: ErrNoKey},
			{op: "get", key: "", wantErr: ErrNoKey},
			{op: "del", key: "", wantErr: ErrNoKey},
		}},
	}
	for _, kind := range storeKinds() {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				clock := newFakeClock()
				s := kind.open(t, clock)
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
}

func TestStoreCopiesValues(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storeKinds() {
		t.Run(kind.name, func(t *testing.T) {
			s := kind.open(t, newFakeClock())
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
		})
	}
}

func TestStoreContextDone(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, kind := range storeKinds() {
		t.Run(kind.name, func(t *testing.T) {
			s := kind.open(t, newFakeClock())
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
		})
	}
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	type purger interface {
		Store
		Purge(context.Context) (int, error)
		Len() int
	}
	for _, kind := range storeKinds() {
		t.Run(kind.name, func(t *testing.T) {
			clock := newFakeClock()
			s := kind.open(t, clock).(purger)
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
		})
	}
}

func TestJanitorEndsWithContext(t *testing.T) {
	for _, kind := range storeKinds() {
		t.Run(kind.name, func(t *testing.T) {
			clock := newFakeClock()
			s := kind.open(t, clock).(interface {
				Store
				Janitor(context.Context, time.Duration) error
				Len() int
			})
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
		})
	}
}

func key(i int) string { return ChatKey(int64(i)+1, 0) }
