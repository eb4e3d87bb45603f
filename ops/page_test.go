package ops

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// TestPageSession: the page and its data answer 401 (the page with the
// sign-in page) without the token or the session cookie; POST
// /debug/session exchanges the bearer token, and only it, for an HttpOnly
// SameSite=Strict cookie that opens them; a cookie altered, expired or
// signed by another server does not.
func TestPageSession(t *testing.T) {
	leaktest.Check(t)
	s := New(WithToken(token))
	base := serve(t, s)
	bearer := map[string]string{"Authorization": "Bearer " + token}

	for _, tok := range []string{"", "wrong"} {
		hdr := map[string]string{"Authorization": "Bearer " + tok}
		if code, _, _ := request(t, "POST", base+"/debug/session", hdr); code != 401 {
			t.Errorf("POST /debug/session with token %q: %d, want 401", tok, code)
		}
	}
	code, h, _ := request(t, "POST", base+"/debug/session", bearer)
	if code != 204 {
		t.Fatalf("POST /debug/session: %d", code)
	}
	resp := http.Response{Header: h}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode ||
		cookie.MaxAge != int(DefaultSessionTTL/time.Second) || strings.Contains(cookie.Value, token) {
		t.Fatalf("session cookie %+v", cookie)
	}
	withCookie := func(v string) map[string]string { return map[string]string{"Cookie": sessionCookie + "=" + v} }
	exp, mac, _ := strings.Cut(cookie.Value, ".")
	other := New(WithToken(token)) // the same token, another key
	tests := []struct {
		name    string
		path    string
		header  map[string]string
		want    int
		content string // the response's Content-Type starts with it
		body    string // and its body contains it
	}{
		{"page without token", "/debug/", nil, 401, "text/html", `data-page="signin"`},
		{"state without token", "/debug/state", nil, 401, "text/plain", "unauthorized"},
		{"page with bearer", "/debug/", bearer, 200, "text/html", `data-page="ops"`},
		{"state with bearer", "/debug/state", bearer, 200, "application/json", `"capacity":300`},
		{"page with cookie", "/debug/", withCookie(cookie.Value), 200, "text/html", `data-page="ops"`},
		{"state with cookie", "/debug/state", withCookie(cookie.Value), 200, "application/json", `"samples":[`},
		{"goroutines with cookie", "/debug/goroutines", withCookie(cookie.Value), 200, "text/plain", "By owner:"},
		{"cookie with a later expiry", "/debug/state", withCookie(fmt.Sprint(time.Now().Add(48*time.Hour).Unix()) + "." + mac), 401, "text/plain", ""},
		{"cookie with its mac cut", "/debug/state", withCookie(exp + "." + mac[:len(mac)-2]), 401, "text/plain", ""},
		{"expired cookie", "/debug/state", withCookie(s.sessionValue(time.Now().Add(-time.Second).Unix())), 401, "text/plain", ""},
		{"another server's cookie", "/debug/state", withCookie(other.sessionValue(time.Now().Add(time.Hour).Unix())), 401, "text/plain", ""},
		{"the token as cookie", "/debug/state", withCookie(token), 401, "text/plain", ""},
		{"script without token", "/debug/static/ops.js", nil, 200, "text/javascript", "fetch('state?since="},
		{"sign-in script without token", "/debug/static/signin.js", nil, 200, "text/javascript", "fetch('session'"},
		{"style sheet", "/debug/static/ops.css", nil, 200, "text/css", "#charts"},
		{"no other file", "/debug/static/index.html", bearer, 404, "text/plain", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := request(t, "GET", base+tt.path, tt.header)
			if code != tt.want || !strings.HasPrefix(h.Get("Content-Type"), tt.content) || !strings.Contains(body, tt.body) {
				t.Errorf("GET %s: %d %q, want %d %q containing %q; body %.300s", tt.path, code, h.Get("Content-Type"), tt.want, tt.content, tt.body, body)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Error("401 without a Bearer challenge")
			}
			if strings.HasPrefix(tt.path, "/debug/") && tt.want != 404 && !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("no content security policy: %q", h.Get("Content-Security-Policy"))
			}
		})
	}
	// Without a token configured the page, its files and the exchange are
	// not there.
	off := serve(t, New())
	for _, p := range []string{"/debug/", "/debug/state", "/debug/static/ops.js"} {
		if code, _, _ := request(t, "GET", off+p, bearer); code != 404 {
			t.Errorf("GET %s without a configured token: %d, want 404", p, code)
		}
	}
	if code, _, _ := request(t, "POST", off+"/debug/session", bearer); code != 404 {
		t.Errorf("POST /debug/session without a configured token: %d, want 404", code)
	}
}

// TestSamplerBounded feeds the sampler 25 samples a second apart: the ring
// keeps the last 10 (WithSamples), rates come from the counters between
// samples, latency quantiles from the handlers that ended between them,
// and ?since= returns only later samples. Goroutine profiles keep to
// their budget.
func TestSamplerBounded(t *testing.T) {
	m := NewMetrics(WithoutStandardCollectors())
	s := New(WithToken(token), WithMetrics(m), WithSamples(10))
	u := &tg.Update{UpdateID: 1, Message: &tg.Message{}}
	t0 := time.Unix(1_700_000_000, 0)
	// A goroutine profile waits 100 times as long as the last one took.
	s.takeSample(t0.Add(-2 * time.Second))
	s.takeSample(t0.Add(-2*time.Second + time.Microsecond))
	if first := s.page.samples(0); len(first) != 2 || first[0].Owners == nil || first[1].Owners != nil || first[1].Goroutines <= 0 {
		t.Fatalf("owners read twice in a microsecond, or goroutines not counted: %+v", first)
	}
	for i := range 25 {
		for j := range 2 * i {
			m.UpdateReceived(u, false)
			m.UpdateHandled(u, "/start", time.Duration(j+1)*time.Millisecond, nil)
			m.APICall("sendMessage", 0, nil)
		}
		m.APICall("sendMessage", 0, &tg.APIError{ErrorCode: 429})
		s.takeSample(t0.Add(time.Duration(i) * time.Second))
	}
	got := s.page.samples(0)
	if len(got) != 10 || got[0].T != t0.Add(15*time.Second).UnixMilli() || got[9].T != t0.Add(24*time.Second).UnixMilli() {
		t.Fatalf("%d samples from %d to %d, want the last 10 of 25", len(got), got[0].T, got[len(got)-1].T)
	}
	last := got[9] // sample 24: 48 updates, 48 + 1 calls, one 429 in its second
	if last.Received != 48 || last.Updates != 48 || last.API != 49 || last.API429 != 1 {
		t.Errorf("rates %+v, want 48 received, 48 handled, 49 calls, 1 429 a second", last)
	}
	if last.P50 == nil || last.P99 == nil || *last.P50 != 25 || *last.P99 != 48 {
		t.Errorf("p50 %v p99 %v, want 25 and 48 ms (of 1..48 ms)", deref(last.P50), deref(last.P99))
	}
	if last.Goroutines <= 0 || last.HeapInuse == 0 || last.Spool != nil {
		t.Errorf("sample without goroutines or heap, or with a spool: %+v", last)
	}
	if since := s.page.samples(got[7].T); len(since) != 2 || since[0].T != got[8].T {
		t.Errorf("since the 8th: %d samples", len(since))
	}
	if tr := heapTrend(got); tr == nil || tr.SpanSeconds != 9 {
		t.Errorf("heap trend over 10 samples: %+v", tr)
	}
	if heapTrend(got[:9]) != nil {
		t.Error("a heap trend from 9 samples")
	}

	// A bot with a spool: its depth is sampled.
	m.Start(observe.State{Spool: func() spool.Stats { return spool.Stats{Depth: 7} }})
	s.takeSample(t0.Add(24500 * time.Millisecond))
	if got := s.page.samples(got[9].T); len(got) != 1 || got[0].Spool == nil || *got[0].Spool != 7 {
		t.Errorf("spool depth not sampled: %+v", got)
	}

	// More handlers between two samples than the latency ring holds: the
	// quantiles come from the last latencyRing.
	for j := range 3 * latencyRing {
		m.UpdateHandled(u, "/start", time.Duration(j)*time.Microsecond, nil)
	}
	s.takeSample(t0.Add(25 * time.Second))
	s.takeSample(t0.Add(time.Second)) // older than the newest: dropped
	if all := s.page.samples(0); len(all) != 10 || all[9].T != t0.Add(25*time.Second).UnixMilli() {
		t.Errorf("%d samples held, the newest at %d; want 10, the one of 25 s", len(all), all[len(all)-1].T)
	}
	got = s.page.samples(0)
	p50 := *got[len(got)-1].P50
	if want := float64(2*latencyRing+latencyRing/2) / 1000; p50 != want {
		t.Errorf("p50 after overflow %v ms, want %v", p50, want)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestFindingsMerged: reports of one kind and owner make one row counting
// them, latest first; the rows stay bounded.
func TestFindingsMerged(t *testing.T) {
	m := NewMetrics(WithoutStandardCollectors())
	m.Leaked(leak.Report{Handler: "/remind", UpdateID: 7, Count: 2, Ended: time.Now()})
	m.Leaked(leak.Report{Handler: "/remind", UpdateID: 8, Count: 3, Ended: time.Now()})
	m.HandlerAbandoned(leak.Report{Handler: "/slow", UpdateID: 9}, 40*time.Second)
	m.Alarm(leak.Alarm{Resource: "heap_live_bytes", Rate: 8 << 20, Limit: 4 << 20, Window: 10 * time.Minute, From: 1 << 20, To: 81 << 20, At: time.Now()})
	fs := m.live.findings()
	if len(fs) != 3 {
		t.Fatalf("%d findings: %+v", len(fs), fs)
	}
	if fs[0].Kind != "alarm" || fs[0].Owner != "heap_live_bytes" || fs[0].Alarm == nil || !strings.Contains(fs[0].Title, "heap_live_bytes grew") {
		t.Errorf("alarm row %+v", fs[0])
	}
	if fs[1].Kind != "abandoned" || fs[1].Owner != "handler /slow" || fs[1].Count != 1 || !strings.Contains(fs[1].Title, "40s") {
		t.Errorf("abandoned row %+v", fs[1])
	}
	if fs[2].Kind != "leak" || fs[2].Owner != "handler /remind" || fs[2].Reports != 2 || fs[2].Count != 3 || !strings.Contains(fs[2].Title, "update 8") {
		t.Errorf("leak row %+v", fs[2])
	}
	for i := range 2 * maxReported {
		m.Leaked(leak.Report{Handler: fmt.Sprint("/h", i), Count: 1})
	}
	fs = m.live.findings()
	if len(fs) != maxReported || fs[0].Owner != fmt.Sprint("handler /h", 2*maxReported-1) {
		t.Errorf("%d rows, newest %q; want %d, the newest first", len(fs), fs[0].Owner, maxReported)
	}
	b, err := json.Marshal(fs[0])
	if err != nil || !strings.Contains(string(b), `"kind":"leak"`) {
		t.Errorf("JSON %s %v", b, err)
	}
}

// FuzzSessionCookie: no cookie value but the one the server signed opens
// the page.
func FuzzSessionCookie(f *testing.F) {
	s := New(WithToken(token))
	valid := s.sessionValue(time.Now().Add(time.Hour).Unix())
	for _, v := range []string{valid, "", ".", "1.", valid + "x", "9999999999999999999." + valid[11:], token} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("GET", "/debug/", nil)
		r.Header.Set("Cookie", sessionCookie+"="+v)
		if s.session(r) {
			if c, _ := r.Cookie(sessionCookie); c.Value != valid {
				t.Fatalf("cookie %q opened the page", v)
			}
		}
	})
}
