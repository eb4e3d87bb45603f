// Package extest runs the examples against the Bot API emulator in their
// tests: it starts an example's run function with the emulator's URL and
// token in its environment, and stops it at the end of the test, failing
// the test if run does not return nil promptly.
//
// extest owns the goroutine that calls run; it ends before the test's
// cleanup returns.
package extest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/tgtest"
)

// RunFunc is an example's body: it serves until ctx ends, reading its
// configuration with getenv, and returns nil after a clean stop.
type RunFunc func(ctx context.Context, getenv func(string) string) error

// StopTimeout bounds how long an example may take to return after its
// context was cancelled.
const StopTimeout = 20 * time.Second

// Start starts a fresh emulator and run with TELEGRAM_TOKEN and
// TELEGRAM_API_URL pointing at it, plus env. At the end of the test run's
// context is cancelled and run must return nil within StopTimeout.
func Start(t *testing.T, run RunFunc, env map[string]string) *tgtest.Server {
	t.Helper()
	srv := tgtest.NewServer(tgtest.WithTB(t))
	vars := map[string]string{"TELEGRAM_TOKEN": srv.Token(), "TELEGRAM_API_URL": srv.URL()}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return vars[k] }) }()
	t.Cleanup(func() { // registered after the emulator's Close: runs before it
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after cancel, want nil", err)
			}
		case <-time.After(StopTimeout):
			t.Errorf("run did not return within %v of cancel", StopTimeout)
		}
	})
	return srv
}

// Reply waits up to 10 s for the user's next message from the bot.
func Reply(t *testing.T, u *tgtest.SimUser) tgtest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := u.WaitReply(ctx)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	return m
}

// Expect has the user send text (a command when it starts with "/") and
// fails the test unless the bot's next message is want.
func Expect(t *testing.T, u *tgtest.SimUser, text, want string) tgtest.Message {
	t.Helper()
	var err error
	if len(text) > 1 && text[0] == '/' {
		name, args, _ := strings.Cut(text[1:], " ")
		_, err = u.Command(name, args)
	} else {
		_, err = u.Send(text)
	}
	if err != nil {
		t.Fatal(err)
	}
	m := Reply(t, u)
	if m.Text != want {
		t.Fatalf("after %q the bot said %q, want %q", text, m.Text, want)
	}
	return m
}

// FileContent reads a file the bot uploaded. The emulator publishes the
// message a moment before it stores the file, so it retries for up to 2 s.
func FileContent(t *testing.T, srv *tgtest.Server, fileID string) []byte {
	t.Helper()
	var err error
	for range 200 {
		var b []byte
		if b, err = srv.FileContent(fileID); err == nil {
			return b
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}
