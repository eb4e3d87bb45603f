package tidygram_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/ops"
	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/tgtest"
)

type counter struct{ N int }

// TestSessionsMiddleware counts per chat through the session middleware:
// values are loaded before and saved after each handler, the store's size
// is exported, and its janitor is owned by Run.
func TestSessionsMiddleware(t *testing.T) {
	srv := emulator(t)
	store := session.NewMemory(session.WithMaxEntries(100))
	m := ops.NewMetrics()
	b := newBot(t, srv, tidygram.WithJanitor(store, time.Second), tidygram.WithObserver(m))
	b.Use(tidygram.Sessions(session.New[counter](store, session.WithKey(session.ChatKey))))
	b.OnCommand("count", func(c *tidygram.Context) error {
		s, ok := session.From[counter](c)
		if !ok {
			t.Error("no session in the handler's context")
			return nil
		}
		s.N++
		return c.Send(strconv.Itoa(s.N))
	})
	r := start(t, b)
	users := []*tgtest.SimUser{srv.NewUser("a"), srv.NewUser("b"), srv.NewUser("c")}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for round := 1; round <= 3; round++ {
		for _, u := range users {
			if _, err := u.Command("count", ""); err != nil {
				t.Fatal(err)
			}
		}
		for i, u := range users {
			reply, err := u.WaitReply(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if reply.Text != strconv.Itoa(round) {
				t.Fatalf("user %d round %d: counter %q, want %d", i, round, reply.Text, round)
			}
		}
	}
	if n := store.Len(); n != len(users) {
		t.Fatalf("store has %d entries, want one per chat (%d)", n, len(users))
	}
	families, _ := m.Registry().Gather()
	found := false
	for _, f := range families {
		if f.GetName() == "tidygram_session_entries" {
			found = f.GetMetric()[0].GetGauge().GetValue() == float64(len(users))
		}
	}
	if !found {
		t.Error("tidygram_session_entries does not show the store's size")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
