package main

import (
	"context"
	"testing"

	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

// leaktest checks, after the tests, that the reminders waiting when the bot
// stopped left no goroutine behind.
func TestMain(m *testing.M) { leaktest.Main(m) }

func TestRemind(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	u := srv.NewUser("Alice")
	bottest.Expect(t, u, "/remind 1 tea", "OK, I will remind you in 1s.")
	if m := bottest.Reply(t, u); m.Text != "⏰ tea" {
		t.Fatalf("reminder %q, want %q", m.Text, "⏰ tea")
	}
	bottest.Expect(t, u, "/pending", "0 reminders waiting.")
}

func TestRemindUsage(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	want := usage + " (at most one hour)"
	for _, cmd := range []string{"/remind", "/remind soon tea", "/remind 0 tea", "/remind -5 tea", "/remind 3601 tea", "/remind 5"} {
		bottest.Expect(t, srv.NewUser("Bob"), cmd, want) // a chat each: no wait for its flood limit
	}
}

// Reminders still waiting when the bot stops are dropped: Run returns nil
// (bottest fails the test otherwise, or after StopTimeout) and no
// goroutine is left (leaktest).
func TestStopWithPendingReminders(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	u := srv.NewUser("Carol")
	bottest.Expect(t, u, "/remind 3600 call mum", "OK, I will remind you in 1h0m0s.")
	bottest.Expect(t, u, "/remind 1800 water plants", "OK, I will remind you in 30m0s.")
	bottest.Expect(t, u, "/pending", "2 reminders waiting.")
}
