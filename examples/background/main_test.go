package main

import (
	"testing"

	"github.com/tidygram/tidygram/examples/internal/extest"
	"go.uber.org/goleak"
)

// goleak checks, after every test, that the reminders waiting when the bot
// stopped left no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRemind(t *testing.T) {
	srv := extest.Start(t, run, nil)
	u := srv.NewUser("Alice")
	extest.Expect(t, u, "/remind 1 tea", "OK, I will remind you in 1s.")
	if m := extest.Reply(t, u); m.Text != "⏰ tea" {
		t.Fatalf("reminder %q, want %q", m.Text, "⏰ tea")
	}
	extest.Expect(t, u, "/pending", "0 reminders waiting.")
}

func TestRemindUsage(t *testing.T) {
	srv := extest.Start(t, run, nil)
	want := usage + " (at most one hour)"
	for _, cmd := range []string{"/remind", "/remind soon tea", "/remind 0 tea", "/remind -5 tea", "/remind 3601 tea", "/remind 5"} {
		extest.Expect(t, srv.NewUser("Bob"), cmd, want) // a chat each: no wait for its flood limit
	}
}

// Reminders still waiting when the bot stops are dropped: Run returns
// (extest fails the test after 20 s) and no goroutine is left (goleak).
func TestStopWithPendingReminders(t *testing.T) {
	srv := extest.Start(t, run, nil)
	u := srv.NewUser("Carol")
	extest.Expect(t, u, "/remind 3600 call mum", "OK, I will remind you in 1h0m0s.")
	extest.Expect(t, u, "/remind 1800 water plants", "OK, I will remind you in 30m0s.")
	extest.Expect(t, u, "/pending", "2 reminders waiting.")
}
