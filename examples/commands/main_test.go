package main

import (
	"context"
	"testing"
	"time"

	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func TestCommands(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	alice := srv.NewUser("Alice")
	bottest.Expect(t, alice, "/start", "Hello, Alice! Send /order to order a drink.")
	bottest.Expect(t, alice, "/help", "/start — say hello\n/order — order a drink\n/help — what I can do")
	bottest.Expect(t, alice, "/dance", "I don't know that command. Try /help.")
	if got := srv.Commands(); len(got) != 3 || got[1].Command != "order" {
		t.Errorf("command menu %+v", got)
	}
}

// Each button is answered and edits the message; the buttons then go.
func TestOrderButtons(t *testing.T) {
	tests := []struct {
		data, answer, text string
	}{
		{"drink:tea", "One tea coming up!", "You ordered tea."},
		{"drink:cocoa", "One cocoa coming up!", "You ordered cocoa."},
		{"cancel", "", "Order cancelled."},
	}
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	for _, tt := range tests {
		t.Run(tt.data, func(t *testing.T) {
			u := srv.NewUser("Bob")
			menu := bottest.Expect(t, u, "/order", "What would you like?")
			if n := len(menu.Buttons()); n != 4 {
				t.Fatalf("%d buttons, want 4", n)
			}
			id, err := u.Press(menu, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ans, err := u.WaitCallbackAnswer(ctx, id)
			if err != nil || ans.Text != tt.answer {
				t.Fatalf("answer %q, %v; want %q", ans.Text, err, tt.answer)
			}
			edited := current(srv, u, menu.MessageID)
			if edited.Text != tt.text || len(edited.Buttons()) != 0 {
				t.Fatalf("message now %q with %d buttons, want %q without", edited.Text, len(edited.Buttons()), tt.text)
			}
		})
	}
}

// current returns the message's current version.
func current(srv *tgtest.Server, u *tgtest.SimUser, id int64) tgtest.Message {
	for _, m := range srv.Messages(u.ChatID()) {
		if m.MessageID == id {
			return m
		}
	}
	return tgtest.Message{}
}
