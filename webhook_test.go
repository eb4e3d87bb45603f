package tidygram_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/tgtest"
)

// webhookBot runs a bot in webhook mode with its own server on a free
// loopback port and returns the webhook URL.
func webhookBot(t *testing.T, cfg tidygram.WebhookConfig, setup func(b *tidygram.Bot), opts ...tidygram.Option) (string, *running) {
	t.Helper()
	srv := emulator(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = ln.Addr().String()
	cfg.Listener = ln
	cfg.Path = "/hook"
	b := newBot(t, srv, append(opts, tidygram.WithWebhook(cfg))...)
	setup(b)
	r := start(t, b)
	eventually(t, 5*time.Second, "bot started", func() bool { return b.Me() != nil })
	return "http://" + cfg.Addr + "/hook", r
}

func post(t *testing.T, url, secret string, body io.Reader) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(tidygram.SecretHeader, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1 // the server may cut an oversized body: that is a refusal too
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func update(id int64, chat int64, text string) []byte {
	return []byte(`{"update_id":` + strconv.FormatInt(id, 10) + `,"message":{"message_id":1,"date":1,"chat":{"id":` +
		strconv.FormatInt(chat, 10) + `,"type":"private"},"text":"` + text + `"}}`)
}

func TestWebhookRequests(t *testing.T) {
	var handled atomic.Int32
	var mu sync.Mutex
	ids := map[int64]int{}
	url, r := webhookBot(t, tidygram.WebhookConfig{Secret: "s3cret_token-1"}, func(b *tidygram.Bot) {
		b.OnText(func(c *tidygram.Context) error {
			time.Sleep(20 * time.Millisecond) // a redelivery arrives while this runs
			mu.Lock()
			ids[c.Update.UpdateID]++
			mu.Unlock()
			handled.Add(1)
			return nil
		})
	})
	tests := []struct {
		name   string
		secret string
		body   []byte
		want   int
	}{
		{"wrong secret", "nope", update(1, 1, "a"), http.StatusUnauthorized},
		{"missing secret", "", update(2, 1, "a"), http.StatusUnauthorized},
		{"malformed JSON", "s3cret_token-1", []byte(`{"update_id":`), http.StatusBadRequest},
		{"no update_id", "s3cret_token-1", []byte(`{"message":{}}`), http.StatusBadRequest},
		{"good", "s3cret_token-1", update(10, 1, "a"), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := post(t, url, tt.secret, bytes.NewReader(tt.body)); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
		})
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("%d handler runs; only the good request may run one", n)
	}
	// The same update delivered three times at once and once more later is
	// handled once, and every delivery is answered 200 after it finished.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if got := post(t, url, "s3cret_token-1", bytes.NewReader(update(11, 2, "b"))); got != http.StatusOK {
				t.Errorf("redelivery answered %d", got)
			}
		})
	}
	wg.Wait()
	if got := post(t, url, "s3cret_token-1", bytes.NewReader(update(11, 2, "b"))); got != http.StatusOK {
		t.Fatalf("late redelivery answered %d", got)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if ids[11] != 1 || ids[10] != 1 {
		t.Fatalf("handler runs per update_id = %v, want one each", ids)
	}
}

// endless produces n bytes of a JSON string without holding them.
type endless struct{ n, off int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.off >= e.n {
		return 0, io.EOF
	}
	k := int64(len(p))
	if rem := e.n - e.off; rem < k {
		k = rem
	}
	for i := range p[:k] {
		p[i] = 'a'
	}
	if e.off == 0 {
		copy(p, `{"update_id":1,"message":{"text":"`)
	}
	e.off += k
	return int(k), nil
}

func TestWebhookHugeBodyRefused(t *testing.T) {
	var handled atomic.Int32
	url, r := webhookBot(t, tidygram.WebhookConfig{Secret: "s"}, func(b *tidygram.Bot) {
		b.OnText(func(*tidygram.Context) error { handled.Add(1); return nil })
	})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	code := post(t, url, "s", &endless{n: 256 << 20})
	close(stop)
	<-sampled
	if code != http.StatusRequestEntityTooLarge && code != -1 {
		t.Fatalf("256 MiB body answered %d, want 413", code)
	}
	if grow := int64(peak.Load()) - int64(base); grow > 8<<20 {
		t.Fatalf("heap grew by %d MiB while refusing a 256 MiB body", grow>>20)
	}
	if handled.Load() != 0 {
		t.Fatal("a handler ran for a refused body")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("256 MiB body: status %d, heap in use grew at most %d KiB", code, (int64(peak.Load())-int64(base))>>10)
}

// TestWebhookEndToEnd lets the emulator deliver by webhook (setWebhook on
// start, secret header, per-chat one in flight) and checks every reply.
func TestWebhookEndToEnd(t *testing.T) {
	srv := emulator(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/tg"
	b := newBot(t, srv, tidygram.WithWebhook(tidygram.WebhookConfig{
		Secret: "e2e", Addr: ln.Addr().String(), Listener: ln, Path: "/tg", URL: url, MaxConnections: 8,
	}))
	b.OnText(func(c *tidygram.Context) error {
		_, err := c.Reply("echo: " + c.Text())
		return err
	})
	r := start(t, b)
	eventually(t, 5*time.Second, "webhook set", func() bool { return b.Me() != nil })
	users := make([]*tgtest.SimUser, 10)
	for i := range users {
		users[i] = srv.NewUser("w" + strconv.Itoa(i))
	}
	const each = 10
	for j := range each {
		for _, u := range users {
			if _, err := u.Send("m" + strconv.Itoa(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, u := range users {
		for j := range each {
			m, err := u.WaitReply(ctx)
			if err != nil {
				t.Fatalf("user %d: %v", i, err)
			}
			if want := "echo: m" + strconv.Itoa(j); m.Text != want {
				t.Fatalf("user %d reply %d = %q, want %q (per-chat order)", i, j, m.Text, want)
			}
		}
	}
	eventually(t, 10*time.Second, "all deliveries confirmed", func() bool { return srv.Counters().UpdatesConfirmed == int64(len(users)*each) })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	c := srv.Counters()
	if c.WebhookFailures != 0 {
		t.Errorf("%d webhook deliveries failed", c.WebhookFailures)
	}
	t.Logf("webhook: %d deliveries, %d failures, %d redelivered", c.WebhookDeliveries, c.WebhookFailures, c.UpdatesRedelivered)
}

// TestWebhookOwnServerRegistersURL: with your own server (no Addr), Run
// registers WebhookConfig.URL and the emulator delivers to the handler.
func TestWebhookOwnServerRegistersURL(t *testing.T) {
	srv := emulator(t)
	mux := http.NewServeMux()
	hook := httptest.NewServer(mux)
	defer hook.Close()
	b := newBot(t, srv, tidygram.WithWebhook(tidygram.WebhookConfig{Secret: "own", URL: hook.URL + "/tg"}))
	mux.Handle("POST /tg", b.WebhookHandler())
	b.OnText(func(c *tidygram.Context) error {
		_, err := c.Reply("got " + c.Text())
		return err
	})
	r := start(t, b)
	u := srv.NewUser("own")
	if _, err := u.Send("hi"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := u.WaitReply(ctx)
	if err != nil || m.Text != "got hi" {
		t.Fatalf("reply %q, %v; want \"got hi\"", m.Text, err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
