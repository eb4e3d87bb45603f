package leak

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
)

// Unclosed describes a response body the garbage collector found without
// Close having been called.
type Unclosed struct {
	Labels map[string]string `json:"labels,omitempty"` // pprof labels of the context it was opened with (handler, update_id, …)
	Site   Frame             `json:"site"`             // the call that opened it: the innermost frame outside net/http, leak and tg
	URL    string            `json:"url,omitempty"`    // request URL without query, Bot API tokens redacted; "" when unknown
}

func (u Unclosed) String() string {
	s := "response body garbage-collected without Close, opened at " + u.Site.String()
	if u.URL != "" {
		s += " for " + u.URL
	}
	if len(u.Labels) > 0 {
		s += " by " + labelString(u.Labels)
	}
	return s
}

// Tracker tracks response bodies: how many are open, and which were
// dropped without Close. A dropped body is found when the garbage
// collector frees it (so only after a GC); the Tracker then reports it
// with who opened it and closes the underlying body, which frees its
// connection and two transport goroutines.
//
// Tracking costs one small allocation, one runtime.Callers and one
// runtime.AddCleanup per body. Reports run on the runtime's cleanup
// goroutine: the report function must be quick.
type Tracker struct {
	report   func(Unclosed)
	open     atomic.Int64
	unclosed atomic.Int64
	opened   atomic.Int64
}

// TrackerOption configures a Tracker.
type TrackerOption func(*Tracker)

// WithUnclosed sets the function told about each body dropped without
// Close. Default: log it at Error with slog.Default().
func WithUnclosed(f func(Unclosed)) TrackerOption { return func(t *Tracker) { t.report = f } }

// NewTracker returns a Tracker.
func NewTracker(opts ...TrackerOption) *Tracker {
	t := &Tracker{report: func(u Unclosed) {
		slog.Error("leak: response body not closed", "site", u.Site.String(), "url", u.URL, "labels", labelString(u.Labels))
	}}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Open returns the bodies opened and not yet closed or collected.
func (t *Tracker) Open() int64 { return t.open.Load() }

// Unclosed returns the bodies collected without Close so far. A body is
// counted just before it is reported: the count includes every report
// made, and may include one still being made.
func (t *Tracker) Unclosed() int64 { return t.unclosed.Load() }

// Opened returns the bodies tracked so far.
func (t *Tracker) Opened() int64 { return t.opened.Load() }

// bodyState is what the cleanup needs; it must not point to the wrapper.
type bodyState struct {
	t      *Tracker
	rc     io.ReadCloser
	closed atomic.Bool
	labels map[string]string
	site   Frame
	url    string
}

func (s *bodyState) close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.t.open.Add(-1)
	}
	return s.rc.Close()
}

type trackedBody struct{ s *bodyState }

func (b *trackedBody) Read(p []byte) (int, error) { return b.s.rc.Read(p) }
func (b *trackedBody) Close() error               { return b.s.close() }

type trackedWriterBody struct {
	trackedBody
	w io.Writer
}

func (b *trackedWriterBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// Body wraps rc, opened on behalf of ctx (its pprof labels name the
// owner). Close on the result closes rc. A body whose rc is also an
// io.Writer (101 Switching Protocols) keeps Write.
func (t *Tracker) Body(ctx context.Context, rc io.ReadCloser) io.ReadCloser {
	return t.body(ctx, rc, "", 2)
}

func (t *Tracker) body(ctx context.Context, rc io.ReadCloser, url string, skip int) io.ReadCloser {
	if rc == nil || rc == http.NoBody {
		return rc
	}
	s := &bodyState{t: t, rc: rc, site: callSite(skip + 1), url: url}
	if ctx != nil {
		pprof.ForLabels(ctx, func(k, v string) bool {
			if s.labels == nil {
				s.labels = map[string]string{}
			}
			s.labels[k] = v
			return true
		})
	}
	t.open.Add(1)
	t.opened.Add(1)
	var wrapper io.ReadCloser
	tb := &trackedBody{s}
	wrapper = tb
	if w, ok := rc.(io.Writer); ok {
		wb := &trackedWriterBody{trackedBody{s}, w}
		wrapper = wb
		runtime.AddCleanup(wb, collected, s)
		return wrapper
	}
	runtime.AddCleanup(tb, collected, s)
	return wrapper
}

// collected runs after a tracked body became unreachable.
func collected(s *bodyState) {
	if s.closed.Load() {
		return
	}
	s.t.unclosed.Add(1)
	_ = s.close()
	s.t.report(Unclosed{Labels: s.labels, Site: s.site, URL: s.url})
}

// callSite returns the innermost caller outside the runtime, net/http,
// this package and tidygram's tg client.
func callSite(skip int) Frame {
	var pcs [32]uintptr
	n := runtime.Callers(skip+1, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var last Frame
	for {
		f, more := frames.Next()
		fr := Frame{Func: f.Function, File: f.File, Line: f.Line}
		if last.Func == "" {
			last = fr
		}
		if !strings.HasPrefix(f.Function, "runtime.") && !strings.HasPrefix(f.Function, "net/http.") &&
			!strings.HasPrefix(f.Function, "github.com/tidygram/tidygram/leak.(*Tracker)") &&
			!strings.HasPrefix(f.Function, "github.com/tidygram/tidygram/leak.(*trackingTransport)") &&
			!strings.HasPrefix(f.Function, "github.com/tidygram/tidygram/tg.") {
			return fr
		}
		if !more {
			return last
		}
	}
}

// Transport returns a RoundTripper that tracks the bodies of base's
// responses (http.DefaultTransport when base is nil).
func (t *Tracker) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &trackingTransport{t: t, base: base}
}

// Client returns a shallow copy of c (http.DefaultClient when nil) whose
// transport tracks response bodies. Handlers can use it for their own
// HTTP calls: a body they forget to close is reported with the handler
// and update that opened it.
func (t *Tracker) Client(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cc := *c
	cc.Transport = t.Transport(c.Transport)
	return &cc
}

type trackingTransport struct {
	t    *Tracker
	base http.RoundTripper
}

func (tt *trackingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tt.base.RoundTrip(req)
	if resp == nil || resp.Body == nil {
		return resp, err
	}
	u := ""
	if req.URL != nil {
		u = req.URL.Scheme + "://" + req.URL.Host + redactPath(req.URL.Path)
	}
	// A copy: the transport's read loop keeps the original Response
	// reachable until the body is closed, which would keep the wrapper
	// alive too.
	r := *resp
	r.Body = tt.t.body(req.Context(), resp.Body, u, 2)
	return &r, err
}

// CloseIdleConnections passes on to the base transport.
func (tt *trackingTransport) CloseIdleConnections() {
	if c, ok := tt.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// String describes the tracker's counters.
func (t *Tracker) String() string {
	return fmt.Sprintf("leak.Tracker(open %d, unclosed %d, opened %d)", t.Open(), t.Unclosed(), t.Opened())
}

// redactPath hides Bot API tokens ("/bot123:abc/…", "/file/bot123:abc/…")
// in a URL path.
func redactPath(p string) string {
	parts := strings.Split(p, "/")
	for i, seg := range parts {
		if strings.HasPrefix(seg, "bot") && strings.Contains(seg, ":") {
			parts[i] = "bot<token>"
		}
	}
	return strings.Join(parts, "/")
}
