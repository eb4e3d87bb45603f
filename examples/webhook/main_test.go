package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startExample runs the example on a free loopback address, with the URL
// of its webhook registered; it returns the address and the emulator.
func startExample(t *testing.T) (string, *tgtest.Server) {
	t.Helper()
	addr := freeAddr(t)
	srv := tgtest.NewServer(tgtest.WithTB(t))
	getenv := bottest.Env(srv, map[string]string{
		"WEBHOOK_ADDR":   addr,
		"WEBHOOK_URL":    "http://" + addr + "/telegram",
		"WEBHOOK_SECRET": "s3cret-Token_1",
	})
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, getenv) })
	return addr, srv
}

// The emulator delivers updates to the bot's own server at the URL Run
// registered; the other routes of that server keep working, and requests
// without the secret are refused.
func TestWebhook(t *testing.T) {
	addr, srv := startExample(t)
	alice, bob := srv.NewUser("Alice"), srv.NewUser("Bob")
	bottest.Expect(t, alice, "hello", "You said: hello")
	bottest.Expect(t, bob, "hi there", "You said: hi there")
	bottest.Expect(t, alice, "again", "You said: again")

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	tests := []struct {
		name, method, path, secret string
		status                     int
	}{
		{"health", http.MethodGet, "/healthz", "", http.StatusOK},
		{"no secret", http.MethodPost, "/telegram", "", http.StatusUnauthorized},
		{"wrong secret", http.MethodPost, "/telegram", "guess", http.StatusUnauthorized},
		{"not the webhook", http.MethodGet, "/telegram", "", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://"+addr+tt.path, strings.NewReader(`{"update_id":1}`))
			if tt.secret != "" {
				req.Header.Set(tidygram.SecretHeader, tt.secret)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
		})
	}
	if c := srv.Counters(); c.WebhookDeliveries < 3 {
		t.Fatalf("%d webhook deliveries, want at least 3", c.WebhookDeliveries)
	}
}

func TestWebhookConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"no secret", map[string]string{"TELEGRAM_TOKEN": "1:a"}},
		{"no token", map[string]string{"WEBHOOK_SECRET": "x"}},
		{"bad listen address", map[string]string{"TELEGRAM_TOKEN": "1:a", "WEBHOOK_SECRET": "x", "WEBHOOK_ADDR": "256.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := run(ctx, func(k string) string { return tt.env[k] }); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// The server cuts slow clients: requests without the secret at once, with
// their body still arriving, and headers that never end after its
// ReadHeaderTimeout; deliveries go on meanwhile.
func TestWebhookSlowClients(t *testing.T) {
	addr, srv := startExample(t)
	alice := srv.NewUser("Alice")
	bottest.Expect(t, alice, "before", "You said: before")

	// stalled sends start and then nothing more; it returns what the server
	// answered before closing the connection, or an error if it did not
	// close it within d.
	stalled := func(start string, d time.Duration) (string, error) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, start); err != nil {
			return "", err
		}
		conn.SetReadDeadline(time.Now().Add(d))
		answer, err := io.ReadAll(conn)
		if line, _, _ := strings.Cut(string(answer), "\r\n"); err == nil || errors.Is(err, syscall.ECONNRESET) {
			return line, nil // closed (a reset may come after the answer)
		}
		return "", fmt.Errorf("still open after %v: %w", d, err)
	}
	const n = 20
	answers := make(chan string, n+1)
	errs := make(chan error, n+1)
	var wg sync.WaitGroup
	for i := range n {
		secret := ""
		if i%2 == 0 {
			secret = tidygram.SecretHeader + ": guess\r\n"
		}
		wg.Go(func() {
			line, err := stalled("POST /telegram HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"+secret+"\r\n{\"update", 5*time.Second)
			answers <- line
			errs <- err
		})
	}
	wg.Go(func() { // well below ReadTimeout: cut by ReadHeaderTimeout (5 s)
		_, err := stalled("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", 20*time.Second)
		errs <- err
	})
	bottest.Expect(t, alice, "meanwhile", "You said: meanwhile")
	wg.Wait()
	close(answers)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for line := range answers {
		if line != "HTTP/1.1 401 Unauthorized" {
			t.Errorf("a request without the secret got %q, want 401 before the close", line)
		}
	}
}
