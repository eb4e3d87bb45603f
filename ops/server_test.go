package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tg"
)

const token = "s3cret-token"

// serve runs s on 127.0.0.1 until the test ends and returns its base URL.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// get sends GET url with the bearer token tok (none when "").
func get(t *testing.T, url, tok string) (int, http.Header, string) {
	t.Helper()
	var h map[string]string
	if tok != "" {
		h = map[string]string{"Authorization": "Bearer " + tok}
	}
	return request(t, "GET", url, h)
}

// request sends method url with the given headers and returns the status,
// the response headers and the body.
func request(t *testing.T, method, url string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestDebugNeedsToken(t *testing.T) {
	leaktest.Check(t) // the server and its connections end with the test
	base := serve(t, New(WithToken(token)))
	tests := []struct {
		path, tok string
		want      int
	}{
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/heap?debug=1", "", 401},
		{"/debug/pprof/heap?debug=1", "wrong", 401},
		{"/debug/pprof/heap?debug=1", token + "x", 401},
		{"/debug/goroutines", "", 401},
		{"/debug/pprof/", token, 200},
		{"/debug/pprof/heap?debug=1", token, 200},
		{"/debug/pprof/goroutine?debug=2", token, 200},
		{"/debug/pprof/heap", token, 200},
		{"/debug/pprof/nosuch", token, 404},
		{"/debug/pprof/heap?seconds=5", token, 400},
		{"/debug/pprof/cmdline", token, 404},
		{"/metrics", "", 200},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.tok, func(t *testing.T) {
			code, h, body := get(t, base+tt.path, tt.tok)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Error("401 without a Bearer challenge")
			}
		})
	}
}

func TestDebugOffWithoutToken(t *testing.T) {
	base := serve(t, New())
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/goroutines"} {
		if code, _, _ := get(t, base+p, "anything"); code != 404 {
			t.Errorf("%s: status %d, want 404", p, code)
		}
	}
}

func TestProfilesOneAtATimeAndCapped(t *testing.T) {
	base := serve(t, New(WithToken(token), WithMaxProfile(time.Hour)))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		// An hour-long CPU profile (headers come when it ends); the
		// client gives up below. Retried while the probes below hold the
		// slot.
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/debug/pprof/profile?seconds=3600", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("the hour-long profile answered %d before the client gave up", resp.StatusCode)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	// While the CPU profile runs, other profiles get 429.
	got429 := wait.For(20*time.Second, func() bool {
		code, h, _ := get(t, base+"/debug/pprof/heap?debug=1", token)
		return code == http.StatusTooManyRequests && h.Get("Retry-After") != ""
	})
	cancel() // the client goes away: the profile stops at once
	wg.Wait()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if !got429 {
		t.Fatal("a second profile was not refused with 429")
	}
	// The server notices the client left, stops the profile and frees
	// the slot.
	code := 0
	if !wait.For(20*time.Second, func() bool { code, _, _ = get(t, base+"/debug/pprof/heap?debug=1", token); return code == 200 }) {
		t.Errorf("after the client left: status %d", code)
	}
	// The cap: a configured maximum of 50 ms wins over ?seconds=3600.
	base2 := serve(t, New(WithToken(token), WithMaxProfile(50*time.Millisecond)))
	for _, p := range []string{"profile", "trace"} {
		code, h, body := get(t, base2+"/debug/pprof/"+p+"?seconds=3600", token)
		if code != 200 || h.Get("X-Profile-Seconds") != "0.05" || len(body) == 0 {
			t.Errorf("%s: status %d, seconds %q, %d bytes", p, code, h.Get("X-Profile-Seconds"), len(body))
		}
	}
	if code, _, _ := get(t, base2+"/debug/pprof/profile?seconds=-1", token); code != 400 {
		t.Errorf("negative seconds: status %d", code)
	}
}

func TestReadyz(t *testing.T) {
	leaktest.Check(t)
	var mu sync.Mutex
	readyErr := errors.New("Bot API unreachable")
	s := New(WithReady(func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		mu.Lock()
		defer mu.Unlock()
		return readyErr
	}))
	base := serve(t, s)
	if code, _, body := get(t, base+"/readyz", ""); code != 503 || !strings.Contains(body, "Bot API unreachable") {
		t.Errorf("status %d body %q", code, body)
	}
	mu.Lock()
	readyErr = nil
	mu.Unlock()
	if code, _, _ := get(t, base+"/readyz", ""); code != 200 {
		t.Errorf("ready: status %d", code)
	}
	if code, _, body := get(t, base+"/healthz", ""); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("healthz %d %q", code, body)
	}
}

func TestMetricsExposed(t *testing.T) {
	m := NewMetrics()
	msg := &tg.Update{UpdateID: 1, Message: &tg.Message{}}
	m.UpdateReceived(msg, false)
	m.UpdateReceived(msg, false)
	m.UpdateReceived(msg, true) // a duplicate is not counted
	m.UpdateHandled(msg, "/start", 30*time.Millisecond, nil)
	m.UpdateHandled(msg, "/start", 2*time.Second, errors.New("boom"))
	m.QueueDepth(func() int { return 7 })
	m.InFlight(func() int { return 3 })
	m.SessionSize(func() int { return 1234 })
	m.OpenConns(func() int { return 5 })
	m.APICall("sendMessage", 0, nil)
	m.APICall("sendMessage", 0, &tg.APIError{ErrorCode: 429, RetryAfter: 3 * time.Second})
	m.LimiterRetrying("sendMessage", 3*time.Second, nil)
	m.LimiterWaited("sendMessage", 200*time.Millisecond)
	m.Leaked(leak.Report{Handler: "/remind", Count: 2})
	m.ProvenLeaked(4)
	m.BodyUnclosed(leak.Unclosed{})
	m.Alarm(leak.Alarm{Resource: "goroutines"})
	var nilMetrics *Metrics // a nil *Metrics does nothing
	nilMetrics.UpdateReceived(msg, false)
	nilMetrics.QueueDepth(func() int { return 1 })

	base := serve(t, New(WithMetrics(m)))
	code, _, body := get(t, base+"/metrics", "")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		`tidygram_updates_received_total{kind="message"} 2`,
		`tidygram_updates_handled_total{kind="message",result="ok",route="/start"} 1`,
		`tidygram_updates_handled_total{kind="message",result="error",route="/start"} 1`,
		`tidygram_handler_duration_seconds_count{route="/start"} 2`,
		`tidygram_updates_queued 7`, `tidygram_updates_in_flight 3`,
		`tidygram_session_entries 1234`, `tidygram_api_open_connections 5`,
		`tidygram_api_calls_total{method="sendMessage",result="429"} 1`,
		`tidygram_api_retries_total{method="sendMessage"} 1`,
		`tidygram_api_retry_wait_seconds_total{method="sendMessage"} 3`,
		`tidygram_limiter_wait_seconds_count 1`,
		`tidygram_leaked_goroutines_total{handler="/remind"} 2`,
		`tidygram_goroutines_proven_leaked 4`,
		`tidygram_response_bodies_unclosed_total 1`,
		`tidygram_growth_alarms_total{resource="goroutines"} 1`,
		"go_goroutines ", "go_sched_goroutines_created_goroutines_total ", "go_gc_heap_live_bytes ", "process_open_fds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestGoroutinesView(t *testing.T) {
	if err := leak.EnableTracebackLabels(); err != nil {
		t.Fatal(err)
	}
	s := New(WithToken(token))
	base := serve(t, s)
	if code, _, _ := get(t, base+"/healthz", ""); code != 200 { // Serve has taken its start snapshot
		t.Fatalf("healthz %d", code)
	}
	// After the start snapshot: three goroutines of a handler.
	release := make(chan struct{})
	var started sync.WaitGroup
	pprof.Do(context.Background(), pprof.Labels(leak.LabelBot, "b1", leak.LabelComponent, "handler", leak.LabelHandler, "/remind", leak.LabelUpdateID, "9"), func(context.Context) {
		for range 3 {
			started.Add(1)
			go func() { started.Done(); <-release }()
		}
	})
	started.Wait()
	defer close(release)

	code, _, body := get(t, base+"/debug/goroutines?format=json", token)
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	var v goroutineView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	owner := func(list []leak.OwnerCount, name string) int {
		for _, o := range list {
			if o.Owner == name {
				return o.Count
			}
		}
		return 0
	}
	if owner(v.Owners, "handler /remind") != 3 || !v.Ages || v.Total < 3 {
		t.Errorf("owners %+v ages %v total %d", v.Owners, v.Ages, v.Total)
	}
	grew := 0
	for _, d := range v.OwnersDiff {
		if d.Key == "handler /remind" {
			grew = d.Growth()
		}
	}
	if grew != 3 {
		t.Errorf("handler /remind grew by %d since start: %+v", grew, v.OwnersDiff)
	}
	found := false
	for _, f := range v.Findings {
		found = found || f.ID == "outlived-update"
	}
	if !found {
		t.Errorf("the handler's goroutines, with no handler running, not explained: %+v", v.Findings)
	}
	code, _, text := get(t, base+"/debug/goroutines", token)
	for _, want := range []string{"By owner:", "handler /remind", "Since ", "+3  handler /remind"} {
		if code != 200 || !strings.Contains(text, want) {
			t.Errorf("text view (status %d) lacks %q:\n%s", code, want, text)
		}
	}
}

func TestRunOwnsItsListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(WithAddr(addr)).Run(ctx) }()
	var code int
	wait.For(10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		code = resp.StatusCode
		resp.Body.Close()
		return true
	})
	http.DefaultClient.CloseIdleConnections()
	if code != 200 {
		t.Fatalf("healthz via Run: %d", code)
	}
	// A second server on the same address fails at once.
	if err := New(WithAddr(addr)).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("second Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("listener still open after Run returned")
	}
}
