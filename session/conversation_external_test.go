package session_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tidygram/tidygram/session"
)

type draft struct{ Name string }

// A second instance that moved the key first wins on a Versioned store:
// the stale commit is refused.
func TestConversationStateConflict(t *testing.T) {
	ctx := context.Background()
	store := newVersionedMap()
	conv := session.NewConversation[draft, string](store, "idle").Declare("size")
	key := conv.Key(1, 2)
	a, err := conv.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := conv.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Enter("size"); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a.Data().Name = "x"
	if err := a.Enter("size"); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("stale commit: %v, want session.ErrConflict", err)
	}
}
