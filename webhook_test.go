package tidygram_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// webhookBot runs a bot in webhook mode with its own server on a free
// loopback port and returns the webhook URL.
func webhookBot(t *testing.T, cfg tidygram.WebhookConfig, setup func(b *tidygram.Bot), opts ...tidygram.Option) (string, *running) {
	t.Helper()
	srv := emulator(t)
	if cfg.Listener == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listener = ln
	}
	cfg.Addr = cfg.Listener.Addr().String()
	cfg.Path = "/hook"
	b := newBot(t, srv, append(opts, tidygram.WithWebhook(cfg))...)
	setup(b)
	r := start(t, b)
	eventually(t, 5*time.Second, "bot started", func() bool { return b.Me() != nil })
	return "http://" + cfg.Addr + "/hook", r
}

func post(t *testing.T, url, secret string, body io.Reader) int {
	t.Helper()
	code, _ := postWith(t, http.DefaultClient, url, secret, body)
	return code
}

// postWith posts body with client and returns the status (-1 when the
// request failed) and the start of the answer's body.
func postWith(t *testing.T, client *http.Client, url, secret string, body io.Reader) (int, string) {
	t.Helper()
	code, msg, _ := send(t, client, http.MethodPost, url, secret, body)
	return code, msg
}

// send sends one request and returns the answer's status (-1 and the
// error when the request failed: the server may cut an oversized body,
// which is a refusal too), the start of its body and whether the server
// closes the connection after it.
func send(t *testing.T, client *http.Client, method, url, secret string, body io.Reader) (int, string, bool) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(tidygram.SecretHeader, secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		return -1, err.Error(), true
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(msg), resp.Close
}

func update(id int64, chat int64, text string) []byte {
	return []byte(`{"update_id":` + strconv.FormatInt(id, 10) + `,"message":{"message_id":1,"date":1,"chat":{"id":` +
		strconv.FormatInt(chat, 10) + `,"type":"private"},"text":"` + text + `"}}`)
}

// dupCounter counts the deliveries of one update recognised as duplicates.
type dupCounter struct {
	observe.Nop
	id int64
	n  atomic.Int32
}

func (d *dupCounter) UpdateReceived(u *tg.Update, dup bool) {
	if dup && u.UpdateID == d.id {
		d.n.Add(1)
	}
}

func TestWebhookRequests(t *testing.T) {
	var handled atomic.Int32
	var mu sync.Mutex
	ids := map[int64]int{}
	release := make(chan struct{}) // update 11's handler runs until then
	var releaseOnce sync.Once
	releaseHandler := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseHandler()
	dups := &dupCounter{id: 11}
	url, r := webhookBot(t, tidygram.WebhookConfig{Secret: "s3cret_token-1"}, func(b *tidygram.Bot) {
		b.OnText(func(c *tidygram.Context) error {
			if c.Update.UpdateID == 11 {
				<-release // the redeliveries arrive while this runs
			}
			mu.Lock()
			ids[c.Update.UpdateID]++
			mu.Unlock()
			handled.Add(1)
			return nil
		})
	}, tidygram.WithObserver(dups))
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
	var answered atomic.Int32
	for range 3 {
		wg.Go(func() {
			if got := post(t, url, "s3cret_token-1", bytes.NewReader(update(11, 2, "b"))); got != http.StatusOK {
				t.Errorf("redelivery answered %d", got)
			}
			answered.Add(1)
		})
	}
	eventually(t, 10*time.Second, "two deliveries of update 11 waiting for its handler", func() bool { return dups.n.Load() == 2 })
	if n := answered.Load(); n != 0 {
		t.Fatalf("%d deliveries answered while the handler runs", n)
	}
	releaseHandler()
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
		return c.Reply("echo: " + c.Text())
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
		return c.Reply("got " + c.Text())
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

// TestWebhookStrictBody: a body is exactly one JSON object carrying a
// positive update_id, with nothing but whitespace around it; anything else
// is refused with 400 (413 over MaxBodyBytes) and runs no handler.
func TestWebhookStrictBody(t *testing.T) {
	const limit = 4096
	var mu sync.Mutex
	ran := map[int64]int{}
	url, r := webhookBot(t, tidygram.WebhookConfig{Secret: "strict", MaxBodyBytes: limit}, func(b *tidygram.Bot) {
		b.OnText(func(c *tidygram.Context) error {
			mu.Lock()
			ran[c.Update.UpdateID]++
			mu.Unlock()
			return nil
		})
	})
	good := string(update(1, 1, "a"))
	padded := good + strings.Repeat(" ", limit-len(good)) // exactly MaxBodyBytes
	tests := []struct {
		name string
		body string
		want int
		msg  string // part of the answer's text
	}{
		{"whitespace around", " \r\n\t" + string(update(2, 1, "b")) + " \n\t\r ", http.StatusOK, ""},
		{"exactly the limit", strings.Replace(padded, `"update_id":1`, `"update_id":3`, 1), http.StatusOK, ""},
		{"trailing garbage", string(update(4, 1, "c")) + "xyz", http.StatusBadRequest, "after the update"},
		{"trailing comma", string(update(5, 1, "c")) + ",", http.StatusBadRequest, "after the update"},
		{"two objects", string(update(6, 1, "d")) + string(update(7, 1, "e")), http.StatusBadRequest, "after the update"},
		{"two objects on two lines", string(update(8, 1, "d")) + "\n" + string(update(9, 1, "e")) + "\n", http.StatusBadRequest, "after the update"},
		{"truncated", `{"update_id":10,"message":{"message_id":1,"text":"x`, http.StatusBadRequest, "malformed update"},
		{"empty", "", http.StatusBadRequest, "empty body"},
		{"only whitespace", " \n ", http.StatusBadRequest, "empty body"},
		{"null", "null", http.StatusBadRequest, "not a JSON object"},
		{"array", "[" + string(update(11, 1, "f")) + "]", http.StatusBadRequest, "not a JSON object"},
		{"string", `"update"`, http.StatusBadRequest, "not a JSON object"},
		{"number", `12`, http.StatusBadRequest, "not a JSON object"},
		{"update_id a string", `{"update_id":"13","message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"g"}}`, http.StatusBadRequest, "malformed update"},
		{"update_id a fraction", `{"update_id":14.5}`, http.StatusBadRequest, "malformed update"},
		{"update_id beyond int64", `{"update_id":9223372036854775808}`, http.StatusBadRequest, "malformed update"},
		{"message a string", `{"update_id":15,"message":"hello"}`, http.StatusBadRequest, "malformed update"},
		{"update_id missing", `{"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"h"}}`, http.StatusBadRequest, "update_id"},
		{"update_id 0", string(update(0, 1, "i")), http.StatusBadRequest, "update_id"},
		{"update_id negative", string(update(-16, 1, "j")), http.StatusBadRequest, "update_id"},
		{"oversized", string(update(17, 1, strings.Repeat("k", limit))), http.StatusRequestEntityTooLarge, ""},
		{"good", string(update(18, 1, "l")), http.StatusOK, ""},
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := postWith(t, client, url, "strict", strings.NewReader(tt.body))
			if got != tt.want || !strings.Contains(msg, tt.msg) {
				t.Fatalf("status %d %q, want %d with %q", got, msg, tt.want, tt.msg)
			}
		})
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if want := map[int64]int{2: 1, 3: 1, 18: 1}; !maps.Equal(ran, want) {
		t.Fatalf("handler runs per update_id = %v, want %v (only the accepted bodies)", ran, want)
	}
}

// slowResult is what one slow client saw.
type slowResult struct {
	status int           // the answer's status; 0 if none was read (e.g. a reset)
	cut    bool          // the server closed the connection before ctx ended
	took   time.Duration // from dial to the server's close
	err    error         // dial or header write failed
}

// slowPost opens a connection to addr, sends a webhook POST's headers at
// once and then its body one byte per tick — slower than any deadline the
// test sets, and never complete: it declares 1,000 bytes. It returns when
// the server closed the connection or ctx ended.
func slowPost(ctx context.Context, addr, path, secret string, tick time.Duration) slowResult {
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return slowResult{err: err}
	}
	defer conn.Close()
	hdr := "POST " + path + " HTTP/1.1\r\nHost: tidygram.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
	if secret != "" {
		hdr += tidygram.SecretHeader + ": " + secret + "\r\n"
	}
	if _, err := io.WriteString(conn, hdr+"\r\n{"); err != nil {
		return slowResult{err: err}
	}
	closed := make(chan slowResult, 1)
	go func() { // reads the answer, then waits for the server's close
		var res slowResult
		br := bufio.NewReader(conn)
		if resp, err := http.ReadResponse(br, nil); err == nil {
			res.status = resp.StatusCode
		}
		io.Copy(io.Discard, br)
		res.took = time.Since(start)
		res.cut = ctx.Err() == nil
		closed <- res
	}()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case res := <-closed:
			return res
		case <-ctx.Done():
			conn.Close() // ends the reader
			return <-closed
		case <-ticker.C:
			conn.Write([]byte{' '}) // an error means the server closed: the reader sees it too
		}
	}
}

// countingListener tracks the peak of its accepted connections open at
// once.
type countingListener struct {
	net.Listener
	open, peak atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	return closeHook{c, func() { l.open.Add(-1) }, new(sync.Once)}, nil
}

// closeHook runs done when the connection is closed the first time.
type closeHook struct {
	net.Conn
	done  func()
	first *sync.Once
}

func (c closeHook) Close() error {
	defer c.first.Do(c.done)
	return c.Conn.Close()
}

// TestWebhookSlowClients: 200 connections trickling their body one byte per
// 100 ms, against the owned server and against WebhookHandler behind a
// plain http.Server without any timeout. With the right secret each is cut
// once WebhookConfig.BodyTimeout passed (408); with a wrong or missing one
// at once (401), however long BodyTimeout is. Real deliveries meanwhile all
// succeed, and the owned server never holds more than MaxOpenConns
// connections.
func TestWebhookSlowClients(t *testing.T) {
	const (
		slow       = 200
		deliveries = 20
		secret     = "slow-secret"
		maxOpen    = 50
	)
	tests := []struct {
		name        string
		owned       bool
		secret      string        // the slow clients'
		bodyTimeout time.Duration // the bot's
		status      int           // the slow clients' answer
		within      time.Duration // every slow client cut by then
	}{
		{"owned server, right secret", true, secret, time.Second, http.StatusRequestTimeout, 30 * time.Second},
		{"owned server, wrong secret", true, "guess", time.Minute, http.StatusUnauthorized, 10 * time.Second},
		{"owned server, no secret", true, "", time.Minute, http.StatusUnauthorized, 10 * time.Second},
		{"plain server, right secret", false, secret, time.Second, http.StatusRequestTimeout, 30 * time.Second},
		{"plain server, wrong secret", false, "guess", time.Minute, http.StatusUnauthorized, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var handled atomic.Int32
			onText := func(b *tidygram.Bot) {
				b.OnText(func(*tidygram.Context) error { handled.Add(1); return nil })
			}
			cfg := tidygram.WebhookConfig{Secret: secret, BodyTimeout: tt.bodyTimeout}
			var url string
			var r *running
			var counted *countingListener
			if tt.owned {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				counted = &countingListener{Listener: ln}
				cfg.Listener, cfg.MaxOpenConns = counted, maxOpen
				url, r = webhookBot(t, cfg, onText)
			} else {
				b := newBot(t, emulator(t), tidygram.WithWebhook(cfg))
				onText(b)
				mux := http.NewServeMux()
				mux.Handle("POST /hook", b.WebhookHandler())
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				hs := &http.Server{Handler: mux} // no timeouts of its own
				served := make(chan error, 1)
				go func() { served <- hs.Serve(ln) }()
				defer func() { hs.Close(); <-served }()
				r = start(t, b)
				eventually(t, 5*time.Second, "bot started", func() bool { return b.Me() != nil })
				url = "http://" + ln.Addr().String() + "/hook"
			}
			addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/hook")

			ctx, cancel := context.WithTimeout(context.Background(), tt.within)
			defer cancel()
			results := make(chan slowResult, slow)
			var wg sync.WaitGroup
			for range slow {
				wg.Go(func() { results <- slowPost(ctx, addr, "/hook", tt.secret, 100*time.Millisecond) })
			}
			// Real deliveries while the slow clients hold their connections.
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			ok, began := 0, time.Now()
			for i := range deliveries {
				if code, msg := postWith(t, client, url, secret, bytes.NewReader(update(int64(100+i), int64(1+i%4), "real"))); code == http.StatusOK {
					ok++
				} else {
					t.Errorf("delivery %d: %d %s", i, code, msg)
				}
			}
			took := time.Since(began)
			wg.Wait()
			close(results)
			var cut, answered, other int
			var longest time.Duration
			for res := range results {
				if res.err != nil {
					t.Errorf("slow client: %v", res.err)
					continue
				}
				if res.cut {
					cut++
					longest = max(longest, res.took)
				}
				switch res.status {
				case tt.status:
					answered++
				case 0:
				default:
					other++
				}
			}
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d/%d slow clients cut (longest %v), %d answered %d; %d deliveries ok in %v, %d handled",
				cut, slow, longest.Round(time.Millisecond), answered, tt.status, ok, took.Round(time.Millisecond), handled.Load())
			if cut != slow {
				t.Errorf("%d of %d slow clients still connected after %v", slow-cut, slow, tt.within)
			}
			if other != 0 {
				t.Errorf("%d slow clients got an answer other than %d", other, tt.status)
			}
			if ok != deliveries || handled.Load() != deliveries {
				t.Errorf("%d of %d deliveries answered 200, %d handled", ok, deliveries, handled.Load())
			}
			if counted != nil {
				t.Logf("the owned server held at most %d connections at once", counted.peak.Load())
			}
			if counted != nil && counted.peak.Load() > maxOpen {
				t.Errorf("the owned server held %d connections at once, MaxOpenConns is %d", counted.peak.Load(), maxOpen)
			}
		})
	}
}

// TestWebhookBodyTimeoutSparesHandler: BodyTimeout bounds reading the body
// only; the answer still waits for a handler running far longer.
func TestWebhookBodyTimeoutSparesHandler(t *testing.T) {
	release := make(chan struct{})
	var handled atomic.Int32
	url, r := webhookBot(t, tidygram.WebhookConfig{Secret: "s", BodyTimeout: 100 * time.Millisecond}, func(b *tidygram.Bot) {
		b.OnText(func(*tidygram.Context) error { <-release; handled.Add(1); return nil })
	})
	go func() {
		time.Sleep(time.Second) // ten times BodyTimeout
		close(release)
	}()
	if code := post(t, url, "s", bytes.NewReader(update(1, 1, "wait"))); code != http.StatusOK {
		t.Fatalf("answered %d, want 200 after the handler", code)
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("answered before the handler ended (%d runs ended)", n)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookRefusalsClose: every answer of the owned server but 200
// closes its connection, so no client without the secret keeps one of its
// MaxOpenConns slots (a kept-alive 404 would, for IdleTimeout).
func TestWebhookRefusalsClose(t *testing.T) {
	url, r := webhookBot(t, tidygram.WebhookConfig{Secret: "close", MaxBodyBytes: 1024}, func(b *tidygram.Bot) {
		b.OnText(func(*tidygram.Context) error { return nil })
	})
	base := strings.TrimSuffix(url, "/hook")
	tests := []struct {
		name, method, path, secret, body string
		status                           int
	}{
		{"other path", http.MethodPost, "/other", "close", string(update(1, 1, "a")), http.StatusNotFound},
		{"path prefix", http.MethodPost, "/hook/x", "close", string(update(2, 1, "a")), http.StatusNotFound},
		{"method", http.MethodGet, "/hook", "", "", http.StatusMethodNotAllowed},
		{"secret", http.MethodPost, "/hook", "nope", string(update(3, 1, "a")), http.StatusUnauthorized},
		{"malformed", http.MethodPost, "/hook", "close", `{"update_id":4}{}`, http.StatusBadRequest},
		{"too large", http.MethodPost, "/hook", "close", strings.Repeat(" ", 2048), http.StatusRequestEntityTooLarge},
		{"accepted", http.MethodPost, "/hook", "close", string(update(5, 1, "a")), http.StatusOK},
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg, closes := send(t, client, tt.method, base+tt.path, tt.secret, strings.NewReader(tt.body))
			if code != tt.status || closes != (tt.status != http.StatusOK) {
				t.Fatalf("%d %q, connection closed %v; want %d, closed unless 200", code, msg, closes, tt.status)
			}
		})
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookWorkersMatchConnections: with WithWebhook and no WithWorkers,
// the bot runs as many handlers at once as Telegram has requests in
// flight (MaxConnections, above the polling default of 16): 24 handlers
// that each wait until all 24 have started all finish. With WithWorkers(4)
// at most 4 run at once.
func TestWebhookWorkersMatchConnections(t *testing.T) {
	tests := []struct {
		name     string
		opts     []tidygram.Option
		conns    int64
		wantPeak int64
	}{
		{"default workers follow MaxConnections", nil, 24, 24},
		{"WithWorkers is kept", []tidygram.Option{tidygram.WithWorkers(4)}, 24, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := emulator(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			url := "http://" + ln.Addr().String() + "/tg"
			b := newBot(t, srv, append(tt.opts, tidygram.WithWebhook(tidygram.WebhookConfig{
				Secret: "w", Addr: ln.Addr().String(), Listener: ln, Path: "/tg", URL: url, MaxConnections: tt.conns,
			}))...)
			var running, peak atomic.Int64
			all := make(chan struct{})
			var once sync.Once
			b.OnText(func(c *tidygram.Context) error {
				n := running.Add(1)
				defer running.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				if n == tt.wantPeak {
					once.Do(func() { close(all) })
				}
				select { // wait for the others, or for the test to give up
				case <-all:
				case <-c.Done():
				}
				return nil
			})
			r := start(t, b)
			eventually(t, 5*time.Second, "webhook set", func() bool { return b.Me() != nil })
			for i := range tt.conns {
				if _, err := srv.NewUser("u" + strconv.FormatInt(i, 10)).Send("hi"); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-all:
			case <-time.After(30 * time.Second):
				t.Fatalf("%d handlers ran at once, want %d", peak.Load(), tt.wantPeak)
			}
			eventually(t, 30*time.Second, "all handled", func() bool { return srv.Counters().UpdatesConfirmed == tt.conns })
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			if got := peak.Load(); got != tt.wantPeak {
				t.Fatalf("peak %d handlers at once, want %d", got, tt.wantPeak)
			}
		})
	}
}
