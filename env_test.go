package tidygram_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
)

func TestNewFromEnv(t *testing.T) {
	srv := emulator(t)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := tidygram.NewFromEnv(env(nil)); !errors.Is(err, tidygram.ErrNoToken) {
		t.Fatalf("no token: %v, want ErrNoToken", err)
	}
	b, err := tidygram.NewFromEnv(env(map[string]string{"TELEGRAM_TOKEN": srv.Token(), "TELEGRAM_API_URL": srv.URL()}),
		tidygram.WithoutFloodControl())
	if err != nil {
		t.Fatal(err)
	}
	b.OnText(func(c *tidygram.Context) error { return c.Send("env ok") })
	r := start(t, b)
	u := srv.NewUser("env")
	u.Send("x")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if m, err := u.WaitReply(ctx); err != nil || m.Text != "env ok" {
		t.Fatalf("reply %q, %v: the bot did not use TELEGRAM_API_URL", m.Text, err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
