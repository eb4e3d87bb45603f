package tidygram_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/ops"
)

// TestPerUpdateLeakReport plants a goroutine in a handler that outlives its
// update: while the bot keeps running, the leak check reports it with the
// handler's name, the update_id and the chat.
func TestPerUpdateLeakReport(t *testing.T) {
	srv := emulator(t)
	release := make(chan struct{})
	var mu sync.Mutex
	var reports []leak.Report
	b := newBot(t, srv, tidygram.WithLeakCheck(50*time.Millisecond), tidygram.WithObserver(leakObserver{f: func(r leak.Report) {
		mu.Lock()
		reports = append(reports, r)
		mu.Unlock()
	}}))
	var leakyID int64
	b.OnCommand("leak", func(c *tidygram.Context) error {
		leakyID = c.Update.UpdateID
		go func() { <-release }() // forgotten: outlives the update
		return nil
	})
	b.OnText(func(c *tidygram.Context) error { return nil }) // a clean handler beside it
	r := start(t, b)
	pushText(t, srv, 21, "/leak")
	pushText(t, srv, 22, "clean")
	eventually(t, 20*time.Second, "a leak report", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reports) > 0
	})
	close(release) // end it before Run's own check
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 {
		t.Fatalf("%d reports, want 1 (the clean handler must not be reported): %v", len(reports), reports)
	}
	rep := reports[0]
	if rep.Handler != "/leak" || rep.UpdateID != leakyID || rep.ChatID != "21" || rep.Count != 1 {
		t.Fatalf("report = handler %q update %d chat %q count %d; want /leak %d 21 1", rep.Handler, rep.UpdateID, rep.ChatID, rep.Count, leakyID)
	}
	if s := rep.String(); !strings.Contains(s, "observe_test.go") {
		t.Errorf("report does not name the creation site:\n%s", s)
	}
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, err.Error() // not listening yet, or already stopped
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(body)
}

// TestOpsServer runs the ops server with the bot and reads its endpoints.
func TestOpsServer(t *testing.T) {
	srv := emulator(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	b := newBot(t, srv, ops.ForBot(ops.WithListener(ln), ops.WithToken("tok")))
	b.OnText(func(c *tidygram.Context) error {
		return c.Send("ok")
	})
	r := start(t, b)
	for i := range 5 {
		pushText(t, srv, 31, "m"+strconv.Itoa(i))
	}
	base := "http://" + addr
	eventually(t, 10*time.Second, "metrics show 5 handled updates", func() bool {
		code, body := get(t, base+"/metrics", "")
		return code == 200 && strings.Contains(body, `tidygram_updates_handled_total{`) &&
			strings.Contains(body, `route="text"`) && strings.Contains(body, `} 5`)
	})
	tests := []struct {
		path, token string
		want        int
		contains    string
	}{
		{"/healthz", "", 200, ""},
		{"/readyz", "", 200, ""},
		{"/metrics", "", 200, `tidygram_api_calls_total{method="sendMessage",result="ok"} 5`},
		{"/metrics", "", 200, "tidygram_api_open_connections "},
		{"/debug/pprof/goroutine?debug=1", "", 401, ""},
		{"/debug/pprof/goroutine?debug=1", "wrong", 401, ""},
		{"/debug/pprof/goroutine?debug=1", "tok", 200, "tidygram.bot"},
		{"/debug/goroutines", "tok", 200, "worker"},
	}
	for _, tt := range tests {
		code, body := get(t, base+tt.path, tt.token)
		if code != tt.want || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s (token %q) = %d, want %d containing %q; body:\n%.600s", tt.path, tt.token, code, tt.want, tt.contains, body)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("ops server still listening after Run returned")
	}
}

// TestHTTPClientReportsDroppedBody: a handler's own HTTP call whose body is
// never closed is reported once the garbage collector finds it.
func TestHTTPClientReportsDroppedBody(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer site.Close()
	srv := emulator(t)
	m := ops.NewMetrics()
	b := newBot(t, srv, tidygram.WithObserver(m))
	fetched := make(chan struct{})
	b.OnText(func(c *tidygram.Context) error {
		defer close(fetched)
		req, _ := http.NewRequestWithContext(c, http.MethodGet, site.URL, nil)
		resp, err := b.HTTPClient().Do(req)
		if err != nil {
			return err
		}
		_ = resp.StatusCode // the body is never closed: a leak
		return nil
	})
	r := start(t, b)
	pushText(t, srv, 41, "fetch")
	<-fetched
	unclosed := func() float64 {
		families, _ := m.Registry().Gather()
		for _, f := range families {
			if f.GetName() == "tidygram_response_bodies_unclosed_total" {
				return f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	eventually(t, 10*time.Second, "the dropped body reported", func() bool {
		runtime.GC()
		return unclosed() == 1
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// leakObserver observes per-update leak reports only.
type leakObserver struct {
	observe.Nop
	f func(leak.Report)
}

func (o leakObserver) Leaked(r leak.Report) { o.f(r) }
