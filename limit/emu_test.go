package limit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// recorder serves the emulator's Bot API on a 127.0.0.1 listener of its
// own and notes when each call arrives, by method and chat, so that tests
// count calls per window at the server. intercept, if set, may answer a
// call itself.
type recorder struct {
	emu *tgtest.Server
	srv *httptest.Server

	mu        sync.Mutex
	arrivals  []arrival
	intercept func(method string, chat int64, w http.ResponseWriter) bool
}

type arrival struct {
	method string
	chat   int64
	at     time.Time
}

func newRecorder(t testing.TB, opts ...tgtest.Option) *recorder {
	t.Helper()
	r := &recorder{emu: tgtest.NewServer(append([]tgtest.Option{tgtest.WithTB(t)}, opts...)...)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	method := req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:]
	var chat int64
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var p struct {
			ChatID tg.ChatID `json:"chat_id"`
		}
		_ = json.Unmarshal(body, &p)
		chat = p.ChatID.ID
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.arrivals = append(r.arrivals, arrival{method, chat, at})
	intercept := r.intercept
	r.mu.Unlock()
	if intercept != nil && intercept(method, chat, w) {
		return
	}
	r.emu.ServeHTTP(w, req)
}

// times returns the arrival times of calls that match, in order.
func (r *recorder) times(match func(arrival) bool) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Time
	for _, a := range r.arrivals {
		if match(a) {
			out = append(out, a.at)
		}
	}
	return out
}

// client returns a tg.Client on the recorder with ctl installed (none if
// nil); it is closed when the test ends.
func (r *recorder) client(t testing.TB, ctl *Control) *tg.Client {
	t.Helper()
	return newClient(t, r.srv.URL, r.emu.Token(), ctl)
}

func newClient(t testing.TB, url, token string, ctl *Control) *tg.Client {
	t.Helper()
	opts := []tg.Option{tg.WithBaseURL(url)}
	if ctl != nil {
		opts = append(opts, tg.WithMiddleware(ctl.Middleware()))
	}
	c, err := tg.NewClient(token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// maxPerWindow returns the most times within any window [t, t+w).
func maxPerWindow(times []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// closedURL returns the URL of a 127.0.0.1 port nobody listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// floodLog is middleware that notes each 429 a call gets (time, chat,
// retry_after), to explain a failed load test.
type floodLog struct {
	mu  sync.Mutex
	log []string
}

func (f *floodLog) mw(next tg.Invoker) tg.Invoker {
	return func(ctx context.Context, method string, params, result any) error {
		err := next(ctx, method, params, result)
		var ae *tg.APIError
		if errors.As(err, &ae) && ae.ErrorCode == http.StatusTooManyRequests {
			var chat tg.ChatID
			if ct, ok := params.(tg.ChatTargeter); ok {
				chat = ct.TargetChat()
			}
			f.mu.Lock()
			f.log = append(f.log, fmt.Sprintf("%s %s chat %v retry after %v", time.Now().Format("15:04:05.000"), method, chat, ae.RetryAfter))
			f.mu.Unlock()
		}
		return err
	}
}
