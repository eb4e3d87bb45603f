package tg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json/v1"
)

// Defaults of the Client's options.
const (
	// DefaultBaseURL is the cloud Bot API.
	DefaultBaseURL = "https://api.telegram.org"
	// DefaultMaxResponseBytes caps the body of a method's answer (16 MiB). A
	// getUpdates batch of 100 updates is far smaller. The cap bounds the
	// bytes read, not the memory used: an answer is decoded as it streams
	// in and never held whole (see MaxValueBytes).
	DefaultMaxResponseBytes = 16 << 20
	// DefaultMaxDownloadBytes caps a download (20 MiB): the cloud Bot API's
	// getFile serves files up to 20 MB. A local Bot API server has no limit:
	// WithLocalServer raises the default to LocalMaxDownloadBytes.
	DefaultMaxDownloadBytes = 20 << 20
	// DefaultMaxIdleConnsPerHost is the keep-alive pool size (32). Size it to
	// the number of calls made at once, e.g. a dispatcher's worker count.
	DefaultMaxIdleConnsPerHost = 32
	// DefaultResponseHeaderTimeout bounds the wait for response headers after
	// the request is written (2 min), for calls without a context deadline:
	// a backstop against a server that never answers. It exceeds the
	// longest sensible long poll (timeout=50 s).
	DefaultResponseHeaderTimeout = 2 * time.Minute
)

// Fixed settings of the Transport a Client creates.
const (
	dialTimeout         = 15 * time.Second
	dialKeepAlive       = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	idleConnTimeout     = 90 * time.Second
	maxDrainBytes       = 64 << 10 // read at most this much of an unwanted body to reuse its connection
	maxMethodLen        = 64
)

// Client calls the Bot API for one bot token. It is safe for concurrent use;
// create one per token and share it.
//
// Every response body it receives is closed on every path; a body is read to
// its end (at most the response cap, then at most 64 KiB more when it is
// abandoned early) so that its connection is reused. The token is redacted
// from every error the Client returns and from its String form.
type Client struct {
	hc        *http.Client
	transport *http.Transport // created by NewClient, nil when the caller supplied the http.Client
	// with transport: the response header timeout of requests without a
	// deadline, and the header of every JSON request (shared: a
	// RoundTripper never modifies a request)
	headerWait time.Duration
	jsonHeader http.Header
	conns      *connCounter // counts the connections of transport; nil with it
	invoke     Invoker      // middleware chain around c.do

	callPrefix string // base + "/bot" + token + "/"
	urls       urlCache
	filePrefix string // base + "/file/bot" + token + "/"
	base       string // for String
	red        redactor

	maxResponse int64
	maxDownload int64
	maxIdle     int
	jsonType    []string   // Content-Type header value, shared by every JSON request (never modified)
	local       localFiles // local Bot API server mode (WithLocalServer); zero: off

	closed  atomic.Bool  // set by Close: calls fail with ErrClosed, the dialer refuses
	retried atomic.Int64 // calls sent again because the server never read them
}

// Option configures a Client; see NewClient.
type Option func(*options)

type options struct {
	baseURL       string
	hc            *http.Client
	mws           []Middleware
	maxResponse   int64
	maxDownload   int64
	maxIdle       int
	headerTimeout time.Duration
	local         localFiles
	downloadSet   bool // WithMaxDownloadBytes given: local mode keeps it
	headerSet     bool // WithResponseHeaderTimeout given: local mode keeps it
}

// WithBaseURL sets the server: scheme, host and an optional path prefix, with
// no trailing "/bot". Default DefaultBaseURL. Use it for a local Bot API
// server (e.g. "http://127.0.0.1:8081") or the tgtest emulator. Requests go to
// base + "/bot" + token + "/" + method, downloads to
// base + "/file/bot" + token + "/" + file_path.
func WithBaseURL(baseURL string) Option { return func(o *options) { o.baseURL = baseURL } }

// WithHTTPClient makes the Client send through hc instead of an http.Client
// of its own. The caller owns hc: Close leaves its connections alone and
// WithMaxIdleConnsPerHost and WithResponseHeaderTimeout do not apply. hc's
// redirect policy applies (the Client's own http.Client follows none), and
// hc's RoundTripper sees request URLs, which contain the token.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.hc = hc } }

// WithMiddleware adds middleware around every Call, outermost first:
// WithMiddleware(a, b) runs a, then b, then the HTTP call. Repeated options
// append.
func WithMiddleware(mw ...Middleware) Option {
	return func(o *options) { o.mws = append(o.mws, mw...) }
}

// WithMaxResponseBytes caps the body of a method's answer; a larger body is
// refused with a *ResponseError wrapping ErrTooLarge (before it is read
// when its Content-Length announces it, else once the cap is passed) and
// its connection is not reused. Default DefaultMaxResponseBytes; n must be
// positive. Raising it costs no memory: answers are streamed.
func WithMaxResponseBytes(n int64) Option { return func(o *options) { o.maxResponse = n } }

// WithMaxDownloadBytes caps Download and DownloadFile. Default
// DefaultMaxDownloadBytes; raise it for a local Bot API server. n must be
// positive.
func WithMaxDownloadBytes(n int64) Option {
	return func(o *options) { o.maxDownload, o.downloadSet = n, true }
}

// WithMaxIdleConnsPerHost sets how many idle keep-alive connections the
// Client keeps. Default DefaultMaxIdleConnsPerHost; n must be positive.
func WithMaxIdleConnsPerHost(n int) Option { return func(o *options) { o.maxIdle = n } }

// WithResponseHeaderTimeout sets how long the Client waits for response
// headers once a request is written, for a call whose context has no
// deadline (a call with a deadline waits as long as its context allows,
// and pays for no timer); 0 waits without a limit. Default
// DefaultResponseHeaderTimeout. A call it ends fails with a *NetworkError. Raise it for large uploads
// to a local Bot API server, which answers only after passing the file on.
func WithResponseHeaderTimeout(d time.Duration) Option {
	return func(o *options) { o.headerTimeout, o.headerSet = d, true }
}

// NewClient returns a Client for the bot token. It fails when the token is
// empty or holds characters that cannot appear in a URL path segment, when
// the base URL is not an absolute http or https URL, or when an option is
// out of range.
//
// Unless WithHTTPClient is given, the Client owns an http.Client whose
// Transport dials within 15 s (TCP keep-alive 30 s), completes TLS handshakes
// within 10 s, waits for response headers at most
// DefaultResponseHeaderTimeout, keeps up to DefaultMaxIdleConnsPerHost idle
// connections for 90 s, writes through a 64 KiB buffer per connection (fewer
// system calls for uploads), speaks HTTP/1.1, honours HTTPS_PROXY/NO_PROXY,
// and follows no redirects (a redirect would carry the token in a Referer). It sets no
// whole-request timeout: the call's context bounds each call, so a long
// transfer is not cut short.
func NewClient(token string, opts ...Option) (*Client, error) {
	if err := checkToken(token); err != nil {
		return nil, err
	}
	o := options{
		baseURL:       DefaultBaseURL,
		maxResponse:   DefaultMaxResponseBytes,
		maxDownload:   DefaultMaxDownloadBytes,
		maxIdle:       DefaultMaxIdleConnsPerHost,
		headerTimeout: DefaultResponseHeaderTimeout,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.applyLocal(); err != nil {
		return nil, err
	}
	base, err := checkBaseURL(o.baseURL)
	if err != nil {
		return nil, err
	}
	switch {
	case o.maxResponse <= 0:
		return nil, fmt.Errorf("tg: WithMaxResponseBytes(%d): must be positive", o.maxResponse)
	case o.maxDownload <= 0:
		return nil, fmt.Errorf("tg: WithMaxDownloadBytes(%d): must be positive", o.maxDownload)
	case o.maxIdle <= 0:
		return nil, fmt.Errorf("tg: WithMaxIdleConnsPerHost(%d): must be positive", o.maxIdle)
	case o.headerTimeout < 0:
		return nil, fmt.Errorf("tg: WithResponseHeaderTimeout(%v): must not be negative", o.headerTimeout)
	}
	c := &Client{
		hc:          o.hc,
		callPrefix:  base + "/bot" + token + "/",
		filePrefix:  base + "/file/bot" + token + "/",
		base:        base,
		red:         newRedactor(token),
		maxResponse: o.maxResponse,
		maxDownload: o.maxDownload,
		maxIdle:     o.maxIdle,
		jsonType:    []string{"application/json"},
		local:       o.local,
	}
	if c.hc == nil {
		c.conns = &connCounter{closed: &c.closed}
		c.transport = newTransport(o.maxIdle, c.conns)
		c.headerWait = o.headerTimeout
		c.jsonHeader = http.Header{"Content-Type": c.jsonType}
		c.hc = &http.Client{
			Transport:     c.transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c.invoke = c.do
	for i := len(o.mws) - 1; i >= 0; i-- {
		c.invoke = o.mws[i](c.invoke)
	}
	return c, nil
}

// newTransport returns the Transport of a Client's own http.Client. It has
// no ResponseHeaderTimeout: that costs a timer per request, and only a
// request without a deadline needs one (see connTrace).
func newTransport(maxIdle int, cc *connCounter) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: dialKeepAlive}
	cc.dial = d.DialContext
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         cc.DialContext,
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		MaxIdleConnsPerHost: maxIdle,
		IdleConnTimeout:     idleConnTimeout,
	}
}

func checkToken(token string) error {
	if token == "" {
		return errors.New("tg: empty bot token")
	}
	for i := 0; i < len(token); i++ {
		if b := token[i]; b <= ' ' || b >= 0x7f || strings.IndexByte("/?#%\\", b) >= 0 {
			return fmt.Errorf("tg: bot token holds a character not allowed in a URL path (byte %d)", i)
		}
	}
	return nil
}

func checkBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("tg: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("tg: base URL %q: want http(s)://host[:port][/path]", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// String describes the Client without its token.
func (c *Client) String() string { return "tg.Client(" + c.base + "/bot" + redactedToken + ")" }

// GoString is String, so %#v does not print the token either.
func (c *Client) GoString() string { return c.String() }

// Close ends the Client for good: every later Call, method and download
// fails at once with an error wrapping ErrClosed, sends nothing and opens
// no connection. Close closes the idle connections of the Transport the
// Client created (a caller-supplied http.Client is left alone, but the
// Client still refuses calls). It does not wait for calls in flight: they
// complete, and the connection of each is closed when it ends instead of
// returning to the pool, so no connection of the Client outlives its last
// call. Close is safe to call more than once and concurrently with calls.
func (c *Client) Close() error {
	c.closed.Store(true)
	c.closeIdleIfClosed()
	return nil
}

// closeIdleIfClosed closes the idle connections once the Client is closed;
// every call and download runs it when it ends, after its response body was
// closed, so a connection a call returned to the pool after Close does not
// stay there.
func (c *Client) closeIdleIfClosed() {
	if c.transport != nil && c.closed.Load() {
		c.transport.CloseIdleConnections()
	}
}

// errClosed is the error of a call on a closed Client.
func errClosed(method string) error {
	return fmt.Errorf("%w: %s not sent", ErrClosed, method)
}

// Call calls the Bot API method with params and decodes its result into
// result, through the middleware chain. params is nil or a value that
// encoding/json encodes as an object; result is nil (discard) or a non-nil
// pointer.
//
// Params that carry uploads (an InputFile from FileReader or FilePath) are
// sent as multipart/form-data and streamed in constant memory; everything
// else as a JSON body. Uploads are found only in the generated params types
// (the *Params of each method); an upload inside a map or a struct of your
// own fails to encode. Call blocks until the answer is decoded or the call
// fails; when it returns, the upload goroutine (if any) has ended, every file
// it opened is closed, and the response body is closed. Cancelling ctx ends
// the call at once, except that a FileReader's Read in progress is waited
// for.
//
// A keep-alive connection the server closes (servers do after an idle
// time, often 5 s) can meet a request just sent on it. Go's Transport does
// not send a POST again, so the Client does, transparently, when the
// failure proves the server never read the request (NetworkError.NotSent
// lists the proofs) and never otherwise: before writing a request on a
// reused connection it checks the socket (Unix) and moves on to another
// connection if the server has closed it; a call whose request was not
// written at all is sent again as long as pooled connections turn out
// dead (at most the pool's size plus two attempts); a call whose reused
// connection the server reset before answering is sent again once, on a
// new connection. An upload is sent again only when its body was not
// started, or when every reader can seek back (FileReader of an
// io.Seeker; paths are reopened). StaleConns counts both. Such a call that
// still fails returns a *NetworkError with NotSent true.
//
// The answer is decoded as it is read, never held whole: an array result
// element by element into a slice (or a json.RawMessage or an any), any
// other result held whole while it is decoded; no single JSON value may
// exceed MaxValueBytes, nor the whole body the response cap (both refused
// with a *ResponseError wrapping ErrTooLarge). Memory is bounded by what is
// kept plus about twice MaxValueBytes. getUpdates decodes at most its limit
// (1–100, default 100) of updates: more is a server fault, and the first
// limit are returned in the server's order without reading the rest (when
// "ok":true came first, as Telegram sends it). Nothing is lost: the rest is
// not confirmed, since the next offset follows from what was returned.
//
// Errors: *APIError for ok=false; *NetworkError when no answer arrived
// (including ctx's end: errors.Is(err, context.Canceled)); *ResponseError
// for an answer that is not a valid envelope; an error wrapping ErrClosed
// after Close; other errors for bad arguments or an upload source that
// fails to open or read.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	if c.closed.Load() {
		return errClosed(method)
	}
	return c.invoke(ctx, method, params, result)
}

// do is the base Invoker: one HTTP request.
func (c *Client) do(ctx context.Context, method string, params, result any) error {
	if c.closed.Load() { // closed while the middleware held the call
		return errClosed(method)
	}
	defer c.closeIdleIfClosed()
	if err := checkMethod(method); err != nil {
		return err
	}
	if result != nil {
		if v := reflect.ValueOf(result); v.Kind() != reflect.Pointer || v.IsNil() {
			return fmt.Errorf("tg: %s: result must be nil or a non-nil pointer, not %T", method, result)
		}
	}
	var files []*InputFile
	if uc, ok := params.(uploadCarrier); ok {
		files = uc.appendUploads(nil)
	}
	var jsonBody []byte
	if len(files) == 0 && params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("tg: %s: encoding params: %w", method, err)
		}
		if string(b) != "null" { // a nil pointer of a params type: no params
			jsonBody = b
		}
	}
	var rw *rewinder
	if len(files) > 0 {
		rw = newRewinder(files)
	}
	resent := false
	for attempt := 1; ; attempt++ {
		again, err := c.send(ctx, method, params, files, jsonBody, result, attempt, resent, rw != nil)
		if again == resendNo {
			return err
		}
		if rw != nil {
			if rw.rewind() != nil {
				return err
			}
		}
		resent = resent || again == resendUnread
		c.retried.Add(1)
	}
}

// Outcomes of send for its caller: done, or send the request again.
const (
	resendNo      = iota
	resendUnread  // the server reset a reused connection with the request unread: once per call
	resendNothing // no byte of the request left: as often as pooled connections can be dead
)

// send makes one HTTP request of a call, its attempt-th. It asks for the
// request to be sent again when the failure proves that the server never
// read it (connTrace.unread), ctx is alive and the body can be sent again
// (JSON; an upload of which nothing was read yet, or whose readers can be
// rewound, when rewindable, and paths reopened): when nothing of the
// request was written on a reused connection (the pooled connection was
// dead: each such attempt removes one from the pool), up to the pool's
// size plus two attempts; when a reused connection was reset before any
// answer with the request written, once per call (resent). After that
// the call refuses reused connections (fresh): a JSON request the
// Transport moves on by itself, an upload comes back here with nothing
// written and is sent again, until a new connection is dialled.
func (c *Client) send(ctx context.Context, method string, params any, files []*InputFile, jsonBody []byte, result any, attempt int, resent, rewindable bool) (again int, err error) {
	var (
		body        io.Reader
		contentType []string
		length      int64
		up          *upload
	)
	switch {
	case len(files) > 0:
		if up, err = startUpload(params, files); err != nil {
			return resendNo, fmt.Errorf("tg: %s: %w", method, err)
		}
		defer up.stop()
		body, contentType, length = up.body(), []string{up.contentType}, -1
	case jsonBody != nil:
		body, contentType, length = bytes.NewReader(jsonBody), c.jsonType, int64(len(jsonBody))
	}

	tr := &connTrace{fresh: resent, counted: c.transport != nil, headerWait: c.headerWait}
	defer tr.release()
	u, err := c.urls.get(c.callPrefix, method)
	if err != nil {
		return resendNo, fmt.Errorf("tg: %s: %w", method, c.red.err(err))
	}
	// The request is made for an empty URL (nothing to parse) and given
	// the method's parsed one, shared between requests: a RoundTripper
	// never modifies a request.
	req, err := http.NewRequestWithContext(tr.context(ctx), http.MethodPost, "", body)
	if err != nil {
		return resendNo, fmt.Errorf("tg: %s: %w", method, err)
	}
	req.URL, req.Host = u, u.Host
	if contentType != nil {
		if up == nil && c.jsonHeader != nil {
			req.Header = c.jsonHeader
		} else {
			req.Header["Content-Type"] = contentType
		}
		req.ContentLength = length
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		err = tr.headerTimeoutError(err)
		if up != nil {
			if serr := up.stop(); serr != nil { // the upload source failed, not the network
				return resendNo, fmt.Errorf("tg: %s: %w", method, serr)
			}
		}
		if ctx.Err() == nil && tr.unread(err) && (up == nil || !up.started.Load() || rewindable) {
			switch {
			case tr.reused.Load() && tr.nothingWritten(err) && attempt < c.maxIdle+2:
				again = resendNothing
			case !resent:
				again = resendUnread
			}
		}
		return again, c.networkError(ctx, method, err, tr)
	}
	return resendNo, c.readAnswer(ctx, method, resp, result, maxItems(method, jsonBody))
}

// maxItems returns how many elements of an array result a call may decode:
// for getUpdates its limit (1–100, default 100, as the Bot API clamps it),
// read from the JSON params; 0 (no count bound) for other methods.
func maxItems(method string, params []byte) int {
	if !strings.EqualFold(method, "getUpdates") {
		return 0
	}
	var p struct {
		Limit int64 `json:"limit"`
	}
	if unmarshal(params, &p) != nil || p.Limit <= 0 || p.Limit > maxUpdatesPerCall {
		return maxUpdatesPerCall
	}
	return int(p.Limit)
}

// readAnswer reads, decodes and closes resp. An answer whose announced
// length is over the cap is refused unread; the body is read as a stream
// and never held whole (see decodeAnswer). A body abandoned early (refused,
// or not read past what was needed) costs its connection unless its rest
// is short.
func (c *Client) readAnswer(ctx context.Context, method string, resp *http.Response, result any, maxItems int) error {
	if resp.ContentLength > c.maxResponse {
		resp.Body.Close()
		return &ResponseError{Method: method, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("%w (%d bytes)", ErrTooLarge, c.maxResponse)}
	}
	lim := limitsOf(c.maxResponse, maxItems, c.red)
	err := decodeAnswer(method, resp.StatusCode, resp.Body, result, lim, c.red)
	var af *answerFault
	switch {
	case err == nil:
		drainClose(resp.Body)
	case errors.As(err, &af):
		resp.Body.Close()
		return c.networkError(ctx, method, af.err, nil)
	case errors.Is(err, ErrTooLarge):
		resp.Body.Close() // over a cap: the connection is not reused
	default:
		drainClose(resp.Body)
	}
	return err
}

// drainClose reads at most maxDrainBytes of an abandoned body, so that a
// short rest does not cost the connection, and closes it.
func drainClose(body io.ReadCloser) {
	io.CopyN(io.Discard, body, maxDrainBytes)
	body.Close()
}

// maxCachedURLs bounds urlCache: the Bot API has about 180 methods; names
// beyond the bound (Call with made-up names) are parsed each time.
const maxCachedURLs = 512

// urlCache holds the parsed request URL of each method called.
type urlCache struct {
	m sync.Map // method → *url.URL
	n atomic.Int64
}

// get returns the parsed prefix+method. The URL is shared: read-only.
func (uc *urlCache) get(prefix, method string) (*url.URL, error) {
	if u, ok := uc.m.Load(method); ok {
		return u.(*url.URL), nil
	}
	u, err := url.Parse(prefix + method)
	if err != nil {
		return nil, err
	}
	if uc.n.Load() < maxCachedURLs {
		if _, loaded := uc.m.LoadOrStore(method, u); !loaded {
			uc.n.Add(1)
		}
	}
	return u, nil
}

// roundTrip sends req. Through the Client's own Transport it skips
// http.Client, whose work (redirects, cookies, its Timeout, a copy of the
// header for redirects) the Client's own http.Client never needs: it
// follows no redirect and has neither a jar nor a timeout. Its errors are
// *url.Error as http.Client's are.
func (c *Client) roundTrip(req *http.Request) (*http.Response, error) {
	if c.transport == nil {
		return c.hc.Do(req)
	}
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		op := req.Method[:1] + strings.ToLower(req.Method[1:])
		return nil, &url.Error{Op: op, URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

// networkError wraps a transport error. tr is nil when the request surely
// reached the server (the error came while reading the answer's body).
func (c *Client) networkError(ctx context.Context, method string, err error, tr *connTrace) error {
	notSent := tr != nil && (!tr.gotConn.Load() && connectFailed(err) || tr.unread(err))
	err = c.red.err(err)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	return &NetworkError{Method: method, Err: err, notSent: notSent}
}

// checkMethod refuses method names that are not a Bot API method's shape, so
// that a name can never change the request path.
func checkMethod(m string) error {
	if m == "" || len(m) > maxMethodLen {
		return fmt.Errorf("tg: invalid method name %q", m)
	}
	for i := 0; i < len(m); i++ {
		b := m[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_') {
			return fmt.Errorf("tg: invalid method name %q", m)
		}
	}
	return nil
}
