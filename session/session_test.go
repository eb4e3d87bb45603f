package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type cart struct {
	Items []string `json:"items,omitempty"`
	Total int      `json:"total,omitempty"`
}

func TestKeyFuncs(t *testing.T) {
	tests := []struct {
		name       string
		fn         KeyFunc
		chat, user int64
		want       string
	}{
		{"chat", ChatKey, -1001234567890, 42, "c-1001234567890"},
		{"chat without chat", ChatKey, 0, 42, ""},
		{"user", UserKey, -100, 42, "u42"},
		{"user without user", UserKey, -100, 0, ""},
		{"chat user", ChatUserKey, -100, 42, "c-100:u42"},
		{"chat user without user", ChatUserKey, -100, 0, ""},
		{"chat user without chat", ChatUserKey, 0, 42, ""},
		{"64-bit ids", ChatUserKey, 1 << 52, 1<<52 + 1, "c4503599627370496:u4503599627370497"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fn(tt.chat, tt.user); got != tt.want {
				t.Fatalf("= %q, want %q", got, tt.want)
			}
		})
	}
	s := New[cart](NewMemory(), WithKey(ChatKey), WithPrefix("cart:"))
	if got := s.Key(5, 6); got != "cart:c5" {
		t.Fatalf("Session.Key = %q", got)
	}
	if got := s.Key(0, 6); got != "" {
		t.Fatalf("Session.Key without chat = %q, want empty", got)
	}
}

func TestSessionLoadSave(t *testing.T) {
	ctx := context.Background()
	store := NewMemory()
	s := New[cart](store)
	k := s.Key(1, 2)
	got, err := s.Load(ctx, k)
	if err != nil || got.Items != nil || got.Total != 0 {
		t.Fatalf("Load of absent = %+v, %v; want zero, nil", got, err)
	}
	if err := s.Save(ctx, k, cart{Items: []string{"tea"}, Total: 3}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Load(ctx, k)
	if err != nil || len(got.Items) != 1 || got.Total != 3 {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if err := s.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 0 {
		t.Fatalf("Len after Delete = %d", store.Len())
	}

	// Bad bytes give a clear error and stay stored.
	_ = store.Set(ctx, k, []byte("{not json"), 0)
	if _, err := s.Load(ctx, k); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Fatalf("Load of bad bytes: err = %v", err)
	}
	if raw, _ := store.Get(ctx, k); string(raw) != "{not json" {
		t.Fatalf("bad bytes were changed: %q", raw)
	}
	if _, err := s.Load(ctx, ""); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Load(\"\") err = %v, want ErrNoKey", err)
	}
}

func TestSessionDo(t *testing.T) {
	ctx := context.Background()
	errHandler := errors.New("handler failed")
	tests := []struct {
		name      string
		before    *cart // stored before; nil = none
		handler   func(ctx context.Context, c *cart) error
		wantErr   error
		wantAfter *cart // stored after; nil = none
		wantSets  int   // writes to the store
	}{
		{
			name:    "untouched absent session is not written",
			handler: func(context.Context, *cart) error { return nil },
		},
		{
			name:      "change is saved",
			handler:   func(_ context.Context, c *cart) error { c.Total = 7; return nil },
			wantAfter: &cart{Total: 7},
			wantSets:  1,
		},
		{
			name: "change through From is saved",
			handler: func(ctx context.Context, _ *cart) error {
				c, ok := From[cart](ctx)
				if !ok {
					return errors.New("no session in ctx")
				}
				c.Items = append(c.Items, "milk")
				return nil
			},
			wantAfter: &cart{Items: []string{"milk"}},
			wantSets:  1,
		},
		{
			name:      "unchanged existing session is not written",
			before:    &cart{Total: 1},
			handler:   func(_ context.Context, c *cart) error { _ = c.Total; return nil },
			wantAfter: &cart{Total: 1},
		},
		{
			name:      "error discards the change",
			before:    &cart{Total: 1},
			handler:   func(_ context.Context, c *cart) error { c.Total = 99; return errHandler },
			wantErr:   errHandler,
			wantAfter: &cart{Total: 1},
		},
		{
			name:      "existing value is loaded",
			before:    &cart{Total: 1},
			handler:   func(_ context.Context, c *cart) error { c.Total++; return nil },
			wantAfter: &cart{Total: 2},
			wantSets:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &countingStore{Store: NewMemory()}
			s := New[cart](store)
			k := s.Key(10, 20)
			if tt.before != nil {
				if err := s.Save(ctx, k, *tt.before); err != nil {
					t.Fatal(err)
				}
				store.sets = 0
			}
			err := s.Do(ctx, k, tt.handler)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Do err = %v, want %v", err, tt.wantErr)
			}
			if store.sets != tt.wantSets {
				t.Fatalf("store writes = %d, want %d", store.sets, tt.wantSets)
			}
			_, getErr := store.Get(ctx, k)
			if tt.wantAfter == nil {
				if !errors.Is(getErr, ErrNotFound) {
					t.Fatalf("session stored, want none (err %v)", getErr)
				}
				return
			}
			got, err := s.Load(ctx, k)
			if err != nil || got.Total != tt.wantAfter.Total || len(got.Items) != len(tt.wantAfter.Items) {
				t.Fatalf("stored %+v, %v; want %+v", got, err, *tt.wantAfter)
			}
		})
	}
}

func TestSessionDoErrors(t *testing.T) {
	ctx := context.Background()
	s := New[cart](NewMemory())
	called := false
	fn := func(context.Context, *cart) error { called = true; return nil }
	if err := s.Do(ctx, "", fn); !errors.Is(err, ErrNoKey) || called {
		t.Fatalf("Do with empty key: err = %v, called = %v", err, called)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Do(done, "k", fn); !errors.Is(err, context.Canceled) || called {
		t.Fatalf("Do with cancelled ctx: err = %v, called = %v", err, called)
	}
	if _, ok := From[cart](ctx); ok {
		t.Fatal("From found a session in a bare context")
	}
	if _, ok := From[int](NewContext(ctx, new(cart))); ok {
		t.Fatal("From[int] found a *cart")
	}
}

func TestScopeClear(t *testing.T) {
	ctx := context.Background()
	store := NewMemory()
	s := New[cart](store)
	if err := s.Save(ctx, "k", cart{Total: 5}); err != nil {
		t.Fatal(err)
	}
	sc, err := s.Open(ctx, "k")
	if err != nil || sc.Value().Total != 5 || sc.Key() != "k" {
		t.Fatalf("Open = %+v, %v", sc, err)
	}
	sc.Clear()
	if err := sc.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 0 {
		t.Fatalf("cleared session still stored")
	}
	// Cleared, then changed again: saved.
	sc, _ = s.Open(ctx, "k")
	sc.Clear()
	sc.Value().Total = 8
	if err := sc.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load(ctx, "k"); got.Total != 8 {
		t.Fatalf("after clear and change: %+v", got)
	}
}

// countingStore counts writes.
type countingStore struct {
	Store
	sets int
}

func (c *countingStore) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	c.sets++
	return c.Store.Set(ctx, key, v, ttl)
}
