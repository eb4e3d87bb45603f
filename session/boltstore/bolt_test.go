package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/session/internal/fakeclock"
	"github.com/tidygram/tidygram/session/storetest"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The bbolt store keeps the contract of every session.Store.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) session.Store {
		b, err := Open(filepath.Join(t.TempDir(), "s.db"), WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

func TestBoltSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.db")
	clock := fakeclock.New()
	b, err := Open(path, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"c1": "one", "c2": "two", "c3:u4": `{"step":"x"}`}
	for k, v := range want {
		if err := b.Set(ctx, k, []byte(v), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Set(ctx, "short", []byte("gone"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "c1"); err == nil {
		t.Fatal("Get after Close succeeded")
	}

	clock.Advance(30 * time.Minute) // the restart took a while: "short" expired
	b, err = Open(path, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for k, v := range want {
		got, err := b.Get(ctx, k)
		if err != nil || string(got) != v {
			t.Errorf("after reopen Get(%q) = %q, %v; want %q", k, got, err, v)
		}
	}
	if _, err := b.Get(ctx, "short"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("expired value after reopen: err = %v, want session.ErrNotFound", err)
	}
	if n := b.Len(); n != len(want) {
		t.Fatalf("Len = %d, want %d: the expired value was not purged on read", n, len(want))
	}
}

func TestBoltCorruptValue(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Write a value without the expiry header behind the store's back.
	err = b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(b.bucket).Put([]byte("bad"), []byte{1, 2}) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Get(ctx, "bad")
	if err == nil || errors.Is(err, session.ErrNotFound) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Get of a corrupt value: err = %v, want a corruption error", err)
	}
	// Purge leaves it (it cannot tell its expiry); Delete removes it.
	if n, err := b.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if err := b.Delete(ctx, "bad"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "bad"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
}

func TestBoltLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = Open(path, WithOpenTimeout(20*time.Millisecond))
	if err == nil || !errors.Is(err, berrors.ErrTimeout) {
		t.Fatalf("second Open of a locked file: err = %v, want a timeout", err)
	}
}

// TestBoltOptionErrors: invalid option values are errors, not defaults
// (WithOpenTimeout(0) used to wait for the lock forever in bbolt).
func TestBoltOptionErrors(t *testing.T) {
	for _, opt := range []struct {
		name string
		o    Option
	}{{"WithBucket", WithBucket("")}, {"WithOpenTimeout", WithOpenTimeout(0)}} {
		_, err := Open(filepath.Join(t.TempDir(), "s.db"), opt.o)
		var oe *session.OptionError
		if !errors.As(err, &oe) || oe.Option != opt.name {
			t.Errorf("%s: Open = %v, want an *session.OptionError", opt.name, err)
		}
	}
}

func TestBoltBadPath(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "missing", "dir", "s.db"))
	if err == nil || !strings.Contains(err.Error(), "boltstore: open ") {
		t.Fatalf("Open in a missing directory: err = %v", err)
	}
}
