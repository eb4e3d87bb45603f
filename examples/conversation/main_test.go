package main

import (
	"context"
	"testing"

	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

type line struct{ say, want string }

func talk(t *testing.T, u *tgtest.SimUser, lines []line) {
	t.Helper()
	for _, l := range lines {
		bottest.Expect(t, u, l.say, l.want)
	}
}

func TestConversation(t *testing.T) {
	tests := []struct {
		name  string
		lines []line
	}{
		{"order", []line{
			{"hello", "Send /pizza to order a pizza."},
			{"/pizza", "Which size: small, medium or large?"},
			{"huge", "Please answer small, medium or large."},
			{"Large", "Where should we deliver it?"},
			{"Main St 1", "A large pizza to Main St 1. Confirm? (yes/no)"},
			{"maybe", "Please answer yes or no."},
			{"yes", "Ordered! Your large pizza is on its way to Main St 1."},
			{"yes", "Send /pizza to order a pizza."}, // the conversation is over
		}},
		{"declined", []line{
			{"/pizza", "Which size: small, medium or large?"},
			{"small", "Where should we deliver it?"},
			{"Elm St 2", "A small pizza to Elm St 2. Confirm? (yes/no)"},
			{"no", "Order cancelled."},
		}},
		{"cancelled midway", []line{
			{"/pizza", "Which size: small, medium or large?"},
			{"medium", "Where should we deliver it?"},
			{"/cancel", "Order cancelled."},
			{"Oak St 3", "Send /pizza to order a pizza."},
		}},
	}
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	// The chats are independent (the flood limit of 1 message/s per chat
	// paces each), so they run side by side.
	t.Run("users", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				talk(t, srv.NewUser("Alice"), tt.lines)
			})
		}
	})
}

// Two users' conversations are independent, however they interleave.
func TestConversationsInterleave(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	a, b := srv.NewUser("Ann"), srv.NewUser("Ben")
	talk(t, a, []line{{"/pizza", "Which size: small, medium or large?"}})
	talk(t, b, []line{{"/pizza", "Which size: small, medium or large?"}, {"small", "Where should we deliver it?"}})
	talk(t, a, []line{{"large", "Where should we deliver it?"}, {"A Rd", "A large pizza to A Rd. Confirm? (yes/no)"}})
	talk(t, b, []line{{"B Rd", "A small pizza to B Rd. Confirm? (yes/no)"}, {"yes", "Ordered! Your small pizza is on its way to B Rd."}})
	talk(t, a, []line{{"yes", "Ordered! Your large pizza is on its way to A Rd."}})
}
