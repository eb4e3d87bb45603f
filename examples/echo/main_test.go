package main

import (
	"context"
	"testing"

	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func TestEcho(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	alice, bob := srv.NewUser("Alice"), srv.NewUser("Bob")
	tests := []struct {
		user *tgtest.SimUser
		text string
		want string
	}{
		{alice, "hello", "hello"},
		{bob, "ciao 👋", "ciao 👋"},
		{alice, "/start", "/start"}, // commands are text too
	}
	for _, tt := range tests {
		m := bottest.Expect(t, tt.user, tt.text, tt.want)
		if tt.text == tt.want && m.ReplyToMessage == nil {
			t.Errorf("the echo of %q is not a reply to it", tt.text)
		}
	}
	if _, err := alice.SendPhoto(nil, "a photo"); err != nil {
		t.Fatal(err)
	}
	if m := bottest.Reply(t, alice); m.Text != "Send me some text and I will send it back." {
		t.Fatalf("photo answered with %q", m.Text)
	}
}

func TestNeedsToken(t *testing.T) {
	if err := run(t.Context(), func(string) string { return "" }); err == nil {
		t.Fatal("no error without TELEGRAM_TOKEN")
	}
}
