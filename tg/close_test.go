package tg

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/tgtest"
)

// TestClosedClientNeverDials: after Close every call and download fails
// with ErrClosed and no connection is made; a call already in flight at
// Close completes, and its connection is closed when it ends instead of
// waiting in the pool with nobody to close it.
func TestClosedClientNeverDials(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	c, err := NewClient(srv.Token(), WithBaseURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A long poll in flight while the client is closed: the client's first
	// call, so an open connection means it is past dialling.
	polled := make(chan error, 1)
	go func() {
		_, err := c.GetUpdates(ctx, &GetUpdatesParams{Timeout: 30})
		polled <- err
	}()
	if err := wait.Context(ctx, func() bool { open, _ := c.ConnStats(); return open != 0 && srv.Counters().OpenConns != 0 }); err != nil {
		t.Fatalf("the long poll never got a connection: %v", err)
	}
	_, dialedAtClose := c.ConnStats()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.NewUser("alice").Send("hi"); err != nil { // ends the long poll
		t.Fatal(err)
	}
	if err := <-polled; err != nil {
		t.Fatalf("the call in flight at Close: %v", err)
	}
	if open, dialed := c.ConnStats(); open != 0 || dialed != dialedAtClose {
		t.Fatalf("after the last call: %d connections open, %d dialled; want 0 and %d", open, dialed, dialedAtClose)
	}

	accepted := srv.Counters().ConnsAccepted
	checks := map[string]func() error{
		"GetMe":       func() error { _, err := c.GetMe(ctx); return err },
		"SendMessage": func() error { _, err := c.SendMessage(ctx, &SendMessageParams{ChatID: ID(1), Text: "x"}); return err },
		"Call":        func() error { return c.Call(ctx, "getMe", nil, nil) },
		"Download":    func() error { _, err := c.Download(ctx, "photos/x.jpg", &bytes.Buffer{}); return err },
		"upload": func() error {
			_, err := c.SendDocument(ctx, &SendDocumentParams{ChatID: ID(1), Document: FileReader("a.txt", bytes.NewReader([]byte("a")))})
			return err
		},
	}
	for name, call := range checks {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if open, dialed := c.ConnStats(); open != 0 || dialed != dialedAtClose {
		t.Fatalf("after calls on a closed client: %d connections open, %d dialled; want 0 and %d", open, dialed, dialedAtClose)
	}
	if got := srv.Counters().ConnsAccepted; got != accepted {
		t.Fatalf("the emulator accepted %d connections after Close", got-accepted)
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
}
