package main

import (
	"testing"

	"github.com/tidygram/tidygram/examples/internal/extest"
	"github.com/tidygram/tidygram/tgtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEcho(t *testing.T) {
	srv := extest.Start(t, run, nil)
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
		m := extest.Expect(t, tt.user, tt.text, tt.want)
		if tt.text == tt.want && m.ReplyToMessage == nil {
			t.Errorf("the echo of %q is not a reply to it", tt.text)
		}
	}
	if _, err := alice.SendPhoto(nil, "a photo"); err != nil {
		t.Fatal(err)
	}
	if m := extest.Reply(t, alice); m.Text != "Send me some text and I will send it back." {
		t.Fatalf("photo answered with %q", m.Text)
	}
}

func TestNeedsToken(t *testing.T) {
	if err := run(t.Context(), func(string) string { return "" }); err == nil {
		t.Fatal("no error without TELEGRAM_TOKEN")
	}
}
