package tgtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the bot token a Server accepts unless WithToken is given.
const DefaultToken = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew110" // 35 characters after the colon, as Telegram's

// Defaults of the options.
const (
	DefaultMaxPending     = 100_000          // updates waiting for the bot
	DefaultHistoryLimit   = 100              // messages kept per chat
	DefaultUploadLimit    = 50 << 20         // bytes per uploaded file (Telegram: 50 MB)
	DefaultDownloadLimit  = 20 << 20         // bytes of a file getFile serves (Telegram: 20 MB)
	DefaultMaxRequestBody = 10 << 20         // bytes of a JSON or form body
	DefaultWebhookTimeout = 10 * time.Second // per webhook delivery
	DefaultRetryMin       = 100 * time.Millisecond
	DefaultRetryMax       = 5 * time.Second
	DefaultIdleTimeout    = 120 * time.Second // keep-alive connections idle this long are closed
	maxLongPoll           = 50                // seconds, as the Bot API server clamps timeout
)

// ErrQueueFull is returned (wrapped) when an update cannot be enqueued
// because MaxPending updates are already waiting for the bot.
var ErrQueueFull = errors.New("tgtest: pending update queue is full")

// ErrClosed is returned by calls on a closed Server.
var ErrClosed = errors.New("tgtest: server closed")

type config struct {
	tb             testing.TB
	addr           string
	token          string
	botName        string
	seed           uint64
	flood          *FloodLimits
	maxPending     int
	historyLimit   int
	uploadLimit    int64
	downloadLimit  int64
	maxBody        int64
	webhookTimeout time.Duration
	retryMin       time.Duration
	retryMax       time.Duration
	retryAttempts  int
	tempDir        string
	idleTimeout    time.Duration
	firstUpdateID  int64
	local          bool
	uploadSet      bool
	downloadSet    bool
}

// An Option configures a Server.
type Option func(*config)

// WithTB ties the server to a test: NewServer fails the test if it cannot
// start, and Close is registered with tb.Cleanup.
func WithTB(tb testing.TB) Option { return func(c *config) { c.tb = tb } }

// WithAddr sets the listen address. Default "127.0.0.1:0" (a free port).
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithToken sets the bot token the server accepts ("<bot id>:<secret>").
// Default DefaultToken.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithBotUsername sets the bot's username reported by getMe. Default "tgtest_bot".
func WithBotUsername(name string) Option { return func(c *config) { c.botName = name } }

// WithSeed seeds the random choices of probabilistic faults, so a run is
// reproducible. Default 1.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// WithFlood turns flood control on from the start with the given limits
// (zero fields take the defaults of FloodLimits). Default: off.
func WithFlood(l FloodLimits) Option { return func(c *config) { c.flood = &l } }

// WithMaxPending bounds the updates waiting for the bot. Enqueueing more
// fails with ErrQueueFull. Default DefaultMaxPending.
func WithMaxPending(n int) Option { return func(c *config) { c.maxPending = n } }

// WithHistoryLimit bounds the messages kept per chat; the oldest are dropped
// and counted. Default DefaultHistoryLimit.
func WithHistoryLimit(n int) Option { return func(c *config) { c.historyLimit = n } }

// WithUploadLimit bounds the size of one uploaded file. A larger upload is
// answered 413 without being read further. Default DefaultUploadLimit.
func WithUploadLimit(n int64) Option {
	return func(c *config) { c.uploadLimit, c.uploadSet = n, true }
}

// WithDownloadLimit bounds the size of a file getFile agrees to serve.
// Default DefaultDownloadLimit.
func WithDownloadLimit(n int64) Option {
	return func(c *config) { c.downloadLimit, c.downloadSet = n, true }
}

// WithWebhookTimeout bounds one webhook delivery; a slower answer counts as a
// failure and the update is re-sent. Default DefaultWebhookTimeout.
func WithWebhookTimeout(d time.Duration) Option { return func(c *config) { c.webhookTimeout = d } }

// WithWebhookRetry sets the backoff between webhook redeliveries of a chat:
// it starts at min and doubles up to max. attempts > 0 gives up on an update
// (dropping it, counted) after that many failed deliveries; 0 never gives up.
// Default DefaultRetryMin, DefaultRetryMax, 0.
func WithWebhookRetry(min, max time.Duration, attempts int) Option {
	return func(c *config) { c.retryMin, c.retryMax, c.retryAttempts = min, max, attempts }
}

// WithIdleTimeout makes the server close a keep-alive connection that has
// been idle (between requests) for d, as real servers do: nginx after 75 s,
// Node.js and Apache after 5 s. A short d makes a client meet connections
// the server closes just as it sends a request on them, the race a client
// must survive without losing or repeating a call. Counters.IdleConnsClosed
// counts these closes. Default DefaultIdleTimeout; d must be positive.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idleTimeout = d } }

// WithFirstUpdateID sets the update_id of the first update (default 1),
// as Telegram starts each bot at some positive number. Tests of a bot near
// the end of the int64 range use it; ids are never reused, so past
// math.MaxInt64 no update can be pushed.
func WithFirstUpdateID(id int64) Option { return func(c *config) { c.firstUpdateID = id } }

// WithTempDir sets the directory in which the server creates its own
// temporary directory for uploads. Default os.TempDir().
func WithTempDir(dir string) Option { return func(c *config) { c.tempDir = dir } }

// Server is a Telegram Bot API emulator for one bot, serving HTTP on
// 127.0.0.1 (see the package doc for what it serves). All its methods are
// safe for concurrent use.
//
// From Go, a test drives it with NewUser and NewGroup (simulated users),
// Push and PushRaw (any update), inspects it with Messages, History,
// WaitMessages, FileContent, Commands and Counters, and misbehaves with
// SetFaultRate, ScriptFaults and SetFlood. Reset returns it to its initial
// state; Close stops it.
type Server struct {
	cfg      config
	token    string
	bot      User
	botFrom  *User // the bot as the sender of messages (no getMe-only fields)
	url      string
	ln       net.Listener
	hs       *http.Server
	control  http.Handler
	done     chan struct{} // closed by Close
	closing  sync.Once
	serveErr chan error
	handlers sync.WaitGroup // running ServeHTTP calls and internal goroutines
	hmu      sync.Mutex     // guards closed with handlers.Add
	closed   bool

	c      counters
	q      updateQueue // guarded by mu
	mu     sync.Mutex
	wh     *webhook // guarded by mu; nil in polling mode
	poller *poller  // guarded by mu

	ids    idGen
	chats  chatStore
	files  fileStore
	flood  floodControl
	faults faultTable
	misc   miscState
	biz    bizStore
}

// New starts a Server. It returns an error if it cannot listen or create
// its temporary directory.
func New(opts ...Option) (*Server, error) {
	cfg := config{
		addr: "127.0.0.1:0", token: DefaultToken, botName: "tgtest_bot", seed: 1,
		maxPending: DefaultMaxPending, historyLimit: DefaultHistoryLimit,
		uploadLimit: DefaultUploadLimit, downloadLimit: DefaultDownloadLimit,
		maxBody: DefaultMaxRequestBody, webhookTimeout: DefaultWebhookTimeout,
		retryMin: DefaultRetryMin, retryMax: DefaultRetryMax, idleTimeout: DefaultIdleTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.local {
		if !cfg.uploadSet {
			cfg.uploadLimit = LocalUploadLimit
		}
		if !cfg.downloadSet {
			cfg.downloadLimit = math.MaxInt64
		}
	}
	botID, err := tokenBotID(cfg.token)
	if err != nil {
		return nil, err
	}
	if cfg.maxPending <= 0 || cfg.historyLimit <= 0 || cfg.uploadLimit <= 0 || cfg.downloadLimit <= 0 {
		return nil, errors.New("tgtest: limits must be positive")
	}
	if cfg.retryMin <= 0 || cfg.retryMax < cfg.retryMin || cfg.webhookTimeout <= 0 {
		return nil, errors.New("tgtest: webhook retry and timeout must be positive")
	}
	if cfg.idleTimeout <= 0 {
		return nil, errors.New("tgtest: idle timeout must be positive")
	}
	dir, err := os.MkdirTemp(cfg.tempDir, "tgtest-")
	if err != nil {
		return nil, fmt.Errorf("tgtest: temp dir: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("tgtest: listen: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		token:    cfg.token,
		bot:      User{ID: botID, IsBot: true, FirstName: "tgtest bot", Username: cfg.botName, CanJoinGroups: true, SupportsInlineQueries: true},
		url:      "http://" + ln.Addr().String(),
		done:     make(chan struct{}),
		serveErr: make(chan error, 1),
	}
	s.botFrom = &User{ID: s.bot.ID, IsBot: true, FirstName: s.bot.FirstName, Username: s.bot.Username}
	s.q.init()
	if cfg.firstUpdateID > 0 {
		s.q.nextID = cfg.firstUpdateID
	}
	s.chats.init(cfg.historyLimit)
	s.files.init(dir)
	s.flood.init(cfg.flood)
	s.faults.init(cfg.seed)
	s.misc.init()
	s.biz.init()
	s.control = s.controlHandler()
	s.ln = &countingListener{Listener: ln, c: &s.c}
	s.hs = &http.Server{
		Handler:           s,
		ConnState:         s.connState,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       cfg.idleTimeout,
		ErrorLog:          quietLog(),
	}
	go func() { s.serveErr <- s.hs.Serve(s.ln) }()
	if cfg.tb != nil {
		cfg.tb.Cleanup(s.Close)
	}
	return s, nil
}

// NewServer is New for tests and examples: it fails tb (given WithTB) or
// panics if the server cannot start.
func NewServer(opts ...Option) *Server {
	s, err := New(opts...)
	if err != nil {
		var cfg config
		for _, o := range opts {
			o(&cfg)
		}
		if cfg.tb != nil {
			cfg.tb.Helper()
			cfg.tb.Fatalf("tgtest.NewServer: %v", err)
		}
		panic(err)
	}
	return s
}

func tokenBotID(token string) (int64, error) {
	id, secret, ok := strings.Cut(token, ":")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 || secret == "" || strings.ContainsAny(secret, "/ ?#") {
		return 0, fmt.Errorf("tgtest: invalid bot token %q: want <bot id>:<secret>", redact(token))
	}
	return n, nil
}

func redact(token string) string {
	if id, _, ok := strings.Cut(token, ":"); ok {
		return id + ":…"
	}
	return "…"
}

// URL returns the base URL of the Bot API, e.g. "http://127.0.0.1:40123".
// Methods are served at URL()+"/bot"+Token()+"/"+method, files at
// URL()+"/file/bot"+Token()+"/"+file_path and the control API under
// URL()+"/_tgtest/".
func (s *Server) URL() string { return s.url }

// Token returns the bot token the server accepts.
func (s *Server) Token() string { return s.token }

// Bot returns the bot's own user, as getMe answers it.
func (s *Server) Bot() User { return s.bot }

// Close stops the server: it releases every long poll and hung request,
// stops webhook deliveries, closes every connection, waits for every
// goroutine it started and removes its temporary directory. It is safe to
// call more than once.
func (s *Server) Close() {
	s.closing.Do(func() {
		close(s.done)
		s.hmu.Lock()
		s.closed = true
		s.hmu.Unlock()
		s.stopWebhook()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.hs.Shutdown(ctx); err != nil {
			s.hs.Close()
		}
		cancel()
		<-s.serveErr
		s.handlers.Wait()
		s.files.removeAll()
	})
}

// enter registers a running handler; it reports false once Close started.
func (s *Server) enter() bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.closed {
		return false
	}
	s.handlers.Add(1)
	return true
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	if cc, ok := c.(*countingConn); ok {
		cc.state.Store(int32(st))
	}
	switch st {
	case http.StateNew:
		n := s.c.connOpen.Add(1)
		s.c.connTotal.Add(1)
		for {
			m := s.c.connMax.Load()
			if n <= m || s.c.connMax.CompareAndSwap(m, n) {
				break
			}
		}
	case http.StateClosed, http.StateHijacked:
		s.c.connOpen.Add(-1)
	}
}

// ServeHTTP serves the Bot API, file downloads and the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		w.Header().Set("Connection", "close")
		writeError(w, &apiError{Code: 500, Desc: "Internal Server Error: emulator is closing"})
		return
	}
	defer s.handlers.Done()
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/bot"):
		s.serveMethod(w, r, p[len("/bot"):])
	case strings.HasPrefix(p, "/file/bot"):
		s.serveFile(w, r, p[len("/file/bot"):])
	case strings.HasPrefix(p, controlPrefix):
		s.control.ServeHTTP(w, r)
	default:
		writeError(w, errNotFound)
	}
}

func (s *Server) serveMethod(w http.ResponseWriter, r *http.Request, rest string) {
	token, name, ok := strings.Cut(rest, "/")
	if !ok || token != s.token {
		s.c.countRequest(mUnknown, 401)
		writeError(w, errUnauthorized)
		return
	}
	m := lookupMethod(name)
	if m == mUnknown {
		s.c.countRequest(mUnknown, 404)
		writeError(w, errNotFound)
		return
	}
	fault := s.faults.pick(m)
	if fault != nil && fault.preExecution() {
		status := s.applyPreFault(w, r, fault)
		if status != 0 {
			s.c.countRequest(m, status)
			return
		}
		fault = nil // a hang that ran its course: serve the call
	}
	rq := getRequest(s, r, m)
	defer putRequest(rq)
	var res any
	err := rq.parse(w)
	if err == nil {
		res, err = methods[m].fn(s, rq)
	}
	rq.finish(err == nil)
	status := 200
	buf := getBuf()
	defer putBuf(buf)
	if err != nil {
		ae := asAPIError(err)
		status = ae.Code
		if ae.Code == 413 {
			w.Header().Set("Connection", "close")
		}
		encodeError(buf, ae)
	} else if err := encodeResult(buf, res); err != nil {
		status = 500
		buf.Reset()
		encodeError(buf, &apiError{Code: 500, Desc: "Internal Server Error: " + err.Error()})
	}
	if fault != nil {
		s.c.countRequest(m, s.writeFaulty(w, r, fault, status, buf.Bytes()))
		return
	}
	s.c.countRequest(m, status)
	writeJSON(w, status, buf.Bytes())
}
