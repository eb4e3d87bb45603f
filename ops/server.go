// Package ops is tidygram's operations HTTP server: Prometheus metrics,
// health and readiness, token-gated pprof profiles, a goroutine view
// grouped by owner and a live ops page, on a listener of its own
// (loopback by default), never on the webhook's.
//
// Routes:
//
//	/metrics              Prometheus exposition (Go, process and tidygram metrics)
//	/healthz              200 while the server runs
//	/readyz               200 when the readiness function returns nil, else 503 with its error
//	/debug/pprof/…        runtime profiles (bearer token required)
//	/debug/goroutines     goroutines by owner and stack, ages, diff since start, leak findings (token required)
//	/debug/               the ops page: live charts and the leak and growth findings (token required)
//	/debug/state          the page's data as JSON: samples after ?since=<Unix ms>, heap trend, findings (token required)
//	/debug/routes         the bot's routes and their handler functions as JSON, [] before it runs (token required)
//	/debug/session        POST with the bearer token: sets the page's session cookie (see below)
//	/debug/static/…       the page's script and style sheet (static files, served without the token)
//
// The /debug/ routes answer 404 unless a token is configured, and 401
// without it. Heavy ones (profiles, /debug/goroutines) run one at a time
// (429 while one runs); CPU profiles and traces last at most MaxProfile
// (default 30 s). ops never serves the command line, never reads request
// bodies, never logs request URLs, headers or cookies, and never
// registers anything on http.DefaultServeMux.
//
// # The ops page
//
// /debug/ is one page, drawn by a few kilobytes of embedded plain
// JavaScript (SVG charts, nothing loaded from other sites: it works on a
// machine without internet), that polls /debug/state every sample
// interval. It charts:
//
//   - goroutines by owner (leak.Group.Owner: "handler /route", tidygram's
//     components, "pool", …), and their total;
//   - heap in use (bytes in heap objects) and live heap after the last
//     GC, with the live heap's least-squares trend over the samples held
//     (leak.GrowthRate; "sustained growth" by the watchdog's rule at
//     leak.DefaultHeapLimit);
//   - updates received and handled per second;
//   - handler latency p50 and p99 over the handlers that ended in each
//     interval (at most the last 1,024 of them);
//   - Bot API calls and 429 answers per second;
//   - the spool's depth, when the bot has a spool.
//
// Below, a table of leak and growth findings: goroutines that outlived
// their update (the bot's per-update leak check), abandoned handlers, and
// the watchdog's alarms (WithWatchdog) with their own text and fields —
// growing owners and whatever else an alarm names — one row per kind and
// owner counting its reports (at most 64 rows, the least recent dropped);
// then the leak catalogue's reading of the latest sample (leak.Diagnose).
// The figures are those of the bot the server's Metrics observe (ForBot).
//
// Bounds: the server samples every WithSampleInterval (default 2 s) while
// Run or Serve runs with a token — a runtime/metrics read, and a debug=1
// goroutine profile with a catalogue pass at most as often as keeps them
// under 1% of the time — and keeps the last
// WithSamples samples (default 300: 10 minutes, about 210 KB) in a ring
// of fixed size; the page keeps as many. A Handler mounted without Serve
// samples when the page polls instead.
//
// # Signing in to the page
//
// A page load cannot send an Authorization header, so the page signs in
// once: open /debug/#token=<token>, or open /debug/ and paste the token.
// The fragment never leaves the browser (it is in no request line, server
// or proxy log, or Referer header). The sign-in page, served with the
// 401, takes the token out of the address bar and sends it once, as a
// bearer token, to POST /debug/session, whose answer sets a cookie:
// HttpOnly (no script reads it), SameSite=Strict (no other site's page
// makes the browser send it), scoped to /debug, for DefaultSessionTTL
// (12 h), Secure over TLS. Its value is not the token but its expiry and
// an HMAC-SHA256 of it under a random key the server draws in New: it
// opens /debug/ on this server only, until it expires or the server
// restarts, and a cookie forged or altered is refused.
//
// The trade-offs: for its lifetime the cookie opens every /debug/ route,
// profiles included, to whoever uses that browser profile, and there is
// no sign-out but clearing it or restarting the server; a browser may
// keep the typed URL, fragment included, in its history (pasting the
// token into the form avoids that); and over plain HTTP beyond loopback
// the token and the cookie cross the network in clear — keep the
// listener on loopback (reach it through an SSH tunnel) or put TLS in
// front.
package ops

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tidygram/tidygram/leak"
)

// Defaults of a Server.
const (
	DefaultAddr            = "127.0.0.1:9464"
	DefaultMaxProfile      = 30 * time.Second // longest CPU profile or trace
	DefaultReadyTimeout    = 5 * time.Second  // how long /readyz waits for the readiness function
	DefaultShutdownTimeout = 5 * time.Second  // how long Run waits for requests after its context ends
)

// Server is the ops HTTP server. Create it with New; Run serves it.
type Server struct {
	addr            string
	ln              net.Listener // WithListener; nil: listen on addr
	token           [sha256.Size]byte
	hasToken        bool
	metrics         *Metrics
	ready           func(context.Context) error
	readyTimeout    time.Duration
	maxProfile      time.Duration
	shutdownTimeout time.Duration
	log             *slog.Logger
	diag            []leak.DiagnoseOption

	busy chan struct{} // one /debug request at a time

	mu       sync.Mutex
	baseline []leak.Group
	since    time.Time

	// The ops page: its sampler's ring, the samplers running (Serve's),
	// and the key its session cookies are signed with.
	sampleEvery time.Duration
	sampleCount int
	sessionTTL  time.Duration
	page        *sampler
	sampling    atomic.Int32
	sessionKey  [32]byte
}

// Option configures a Server.
type Option func(*Server)

// WithAddr sets the listen address (default 127.0.0.1:9464). Listening on
// a non-loopback address exposes metrics to the network: put /debug/
// behind a token (always) and the listener behind a firewall.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// WithListener makes Run serve on ln (one the caller opened, e.g. on
// 127.0.0.1:0 to learn the port) instead of listening on the address; Run
// closes it.
func WithListener(ln net.Listener) Option { return func(s *Server) { s.ln = ln } }

// WithToken enables the /debug/ routes for requests with
// "Authorization: Bearer <token>" (compared in constant time) or the ops
// page's session cookie (see the package documentation). Without it they
// answer 404 and the page's sampler does not run.
func WithToken(token string) Option {
	return func(s *Server) {
		s.hasToken = token != ""
		s.token = sha256.Sum256([]byte(token))
	}
}

// WithMetrics serves m on /metrics (default: a NewMetrics of the server's
// own, with only the Go and process collectors fed).
func WithMetrics(m *Metrics) Option { return func(s *Server) { s.metrics = m } }

// WithReady sets the readiness function /readyz calls, with a context that
// ends after DefaultReadyTimeout. Default: the readiness of the bot the
// server's Metrics observe (the Bot API answered, and for webhooks
// getWebhookInfo shows no recent delivery error); always ready before a
// bot started.
func WithReady(f func(context.Context) error) Option { return func(s *Server) { s.ready = f } }

// WithMaxProfile caps CPU profiles and traces (default 30 s).
func WithMaxProfile(d time.Duration) Option { return func(s *Server) { s.maxProfile = d } }

// WithShutdownTimeout sets how long Run waits for requests in progress
// after its context ends before it closes their connections (default 5 s).
func WithShutdownTimeout(d time.Duration) Option { return func(s *Server) { s.shutdownTimeout = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithDiagnose passes options to the leak catalogue /debug/goroutines
// explains with (e.g. leak.WithPoolSize(workers+2)).
func WithDiagnose(opts ...leak.DiagnoseOption) Option {
	return func(s *Server) { s.diag = append(s.diag, opts...) }
}

// New returns a Server; it listens only when Run or Serve is called. It
// takes the goroutine snapshot /debug/goroutines diffs against (taken
// again when Serve starts).
func New(opts ...Option) *Server {
	s := &Server{addr: DefaultAddr, readyTimeout: DefaultReadyTimeout, maxProfile: DefaultMaxProfile,
		shutdownTimeout: DefaultShutdownTimeout, busy: make(chan struct{}, 1),
		sampleEvery: DefaultSampleInterval, sampleCount: DefaultSamples, sessionTTL: DefaultSessionTTL,
		sessionKey: newSessionKey()}
	for _, o := range opts {
		o(s)
	}
	s.page = newSampler(s.sampleCount)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.takeBaseline()
	return s
}

// Metrics returns the metrics the server exposes.
func (s *Server) Metrics() *Metrics { return s.metrics }

func (s *Server) takeBaseline() {
	gs, err := leak.Snapshot()
	if err != nil {
		return
	}
	s.mu.Lock()
	s.baseline, s.since = gs, time.Now()
	s.mu.Unlock()
}

// Handler returns the server's routes, for mounting elsewhere (tests, a
// unix-socket listener). Run and Serve use it.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry(), promhttp.HandlerOpts{
		MaxRequestsInFlight: 4, Timeout: 10 * time.Second, ErrorLog: slogPrinter{s.log},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /debug/pprof/{$}", s.guard(http.HandlerFunc(s.pprofIndex), false))
	mux.Handle("GET /debug/pprof/{name}", s.guard(http.HandlerFunc(s.pprofProfile), true))
	mux.Handle("GET /debug/goroutines", s.guard(http.HandlerFunc(s.goroutines), true))
	mux.HandleFunc("GET /debug/{$}", s.servePage)
	mux.Handle("GET /debug/state", s.guard(http.HandlerFunc(s.state), false))
	mux.Handle("GET /debug/routes", s.guard(http.HandlerFunc(s.routes), false))
	mux.HandleFunc("POST /debug/session", s.startSession)
	mux.Handle("GET /debug/static/{file}", s.serveStatic())
	return mux
}

// guard lets through requests with the token; heavy ones one at a time.
func (s *Server) guard(h http.Handler, heavy bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hasToken {
			http.NotFound(w, r)
			return
		}
		pageHeaders(w)
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tidygram ops"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if heavy {
			select {
			case s.busy <- struct{}{}:
				defer func() { <-s.busy }()
			default:
				w.Header().Set("Retry-After", "1")
				http.Error(w, "another profile is being taken; retry later", http.StatusTooManyRequests)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the token or the ops page's
// session cookie.
func (s *Server) authorized(r *http.Request) bool { return s.bearer(r) || s.session(r) }

// bearer reports whether r carries "Authorization: Bearer <token>".
func (s *Server) bearer(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ready := s.ready
	if st := s.metrics.bot(); ready == nil && st != nil {
		ready = st.Ready
	}
	if ready == nil {
		fmt.Fprintln(w, "ready")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.readyTimeout)
	defer cancel()
	if err := ready(ctx); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Run listens on the configured address and serves until ctx ends, then
// shuts down: requests in progress see their context cancelled and get
// the shutdown timeout to finish. It returns nil after a clean shutdown,
// or the error that stopped it (e.g. the address in use). It returns only
// when every goroutine it started has ended.
func (s *Server) Run(ctx context.Context) error {
	if s.ln != nil {
		return s.Serve(ctx, s.ln)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("ops: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener of the caller's; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.takeBaseline()
	if s.hasToken { // the ops page's sampler, ended before Serve returns
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		s.sampling.Add(1)
		go func() {
			defer close(done)
			s.runSampler(sctx)
		}()
		defer func() {
			stop()
			<-done
			s.sampling.Add(-1)
		}()
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      s.maxProfile + 30*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slogLogger(s.log),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ops: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ops: serve: %w", err)
	}
	return nil
}
