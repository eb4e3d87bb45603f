package tidygram

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	json "github.com/go-json-experiment/json/v1"

	"github.com/tidygram/tidygram/tg"
)

// SecretHeader is the header Telegram sends the webhook's secret token in.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// WebhookConfig configures webhook delivery. Give it to WithWebhook.
type WebhookConfig struct {
	// Secret is the secret_token: 1–256 characters of A-Z, a-z, 0-9, _
	// and -. Required unless InsecureNoSecret is set: a request without
	// the matching header gets 401 and no handler runs. Compared in
	// constant time.
	Secret string
	// InsecureNoSecret accepts requests without a secret. Only for a
	// listener nobody else can reach.
	InsecureNoSecret bool
	// MaxBodyBytes caps a request body (default 1 MiB): a larger one gets
	// 413 and nothing is decoded.
	MaxBodyBytes int64
	// BodyTimeout bounds reading a request's whole body, counted from the
	// moment the handler is called, its headers read (default 10 s; it
	// cannot be switched off). A body not complete by then gets 408 and
	// its connection is closed, whatever the server's own timeouts. It
	// bounds the body only: the answer then waits for the update's handler
	// without a read deadline. It is set through http.ResponseController;
	// behind a ResponseWriter that supports no deadline (a wrapper without
	// an Unwrap method) the body is read under the server's ReadTimeout
	// alone.
	BodyTimeout time.Duration
	// AckImmediately answers 200 as soon as the update is queued instead
	// of after its handler ended. Faster for Telegram, but an update in
	// the queue at a crash is lost, and Telegram's per-chat order (it
	// waits for the answer before sending the chat's next update) is then
	// kept only by the bot's own lanes.
	AckImmediately bool

	// Addr, when set, makes Run own an http.Server listening there (Path
	// serves the webhook; everything else is 404) and shut it down
	// gracefully at stop. When empty, mount Bot.WebhookHandler in your
	// own server and Run only runs the handlers; give that server
	// timeouts (ReadHeaderTimeout, IdleTimeout) and a cap on connections
	// of its own.
	//
	// The owned server allows 10 s for a request's headers and
	// BodyTimeout for its body, closes idle connections after 120 s and
	// holds at most MaxOpenConns connections at once.
	Addr string
	// MaxOpenConns caps the connections the owned server holds open at
	// once (default 256; Telegram opens at most MaxConnections, ≤ 100).
	// Further connections wait in the kernel's accept queue until one
	// closes. Every answer but 200 closes its connection at once, so a
	// client without the secret holds a slot for at most the 10 s its
	// headers may take, one with it for at most 10 s + BodyTimeout before
	// its update is handled. Ignored without Addr.
	MaxOpenConns int
	// Path of the webhook in the owned server (default "/"), matched
	// exactly.
	Path string
	// CertFile and KeyFile serve TLS from the owned server.
	CertFile, KeyFile string
	// TLSConfig, if set, is used by the owned server (with CertFile/KeyFile
	// or its own certificates).
	TLSConfig *tls.Config
	// URL, when set, is registered with setWebhook when Run starts (with
	// Secret, MaxConnections and the bot's allowed updates): after the
	// owned server listens, or — with your own server — when Run starts
	// (start your server first). Run never deletes the webhook.
	URL string
	// MaxConnections for setWebhook (1–100; 0: Telegram's default 40).
	MaxConnections int64
	// Listener, if set, is used instead of listening on Addr (tests, socket
	// activation). Addr must then be non-empty for Run to own a server; its
	// value is only informative.
	Listener net.Listener
}

func (w *WebhookConfig) check() error {
	if w.Secret == "" && !w.InsecureNoSecret {
		return errors.New("tidygram: a webhook needs a Secret (or InsecureNoSecret)")
	}
	if len(w.Secret) > 256 {
		return errors.New("tidygram: webhook secret longer than 256 characters")
	}
	for _, r := range w.Secret {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("tidygram: webhook secret has %q: only A-Z, a-z, 0-9, _ and - are allowed", r)
		}
	}
	if w.MaxBodyBytes <= 0 {
		w.MaxBodyBytes = DefaultMaxWebhookBody
	}
	if w.BodyTimeout <= 0 {
		w.BodyTimeout = DefaultBodyTimeout
	}
	if w.MaxOpenConns <= 0 {
		w.MaxOpenConns = DefaultMaxOpenConns
	}
	if w.Path == "" {
		w.Path = "/"
	}
	return nil
}

// WithWebhook makes the bot receive updates by webhook instead of long
// polling; see WebhookConfig.
func WithWebhook(w WebhookConfig) Option {
	return func(c *config) { c.webhook = &w }
}

// WebhookHandler returns the http.Handler that receives Telegram's webhook
// requests. It serves while Run runs (503 before and after, so Telegram
// retries later). Per request, in this order: 405 for a method other than
// POST; 401 for a wrong or missing secret, checked before any of the body
// is read (no handler runs); 413 for a body over MaxBodyBytes (nothing
// decoded); 408 for a body not complete within BodyTimeout; 400 for a body
// that is not exactly one JSON object with a positive update_id (trailing
// data, a second object, null, an array, wrong types: only whitespace may
// surround the object; an update without a positive update_id could be
// neither deduplicated nor confirmed); 503 when the queue stays full until
// Telegram gives up. Otherwise 200 after the handler ended (or once queued
// with AckImmediately). Every answer but 200 closes the connection at once,
// without reading what is left of the body. A redelivered update_id is
// handled once: it is answered when the first delivery's handler ends.
func (b *Bot) WebhookHandler() http.Handler { return http.HandlerFunc(b.serveHook) }

// insecureHook is the configuration of a handler on a bot without
// WithWebhook.
var insecureHook = WebhookConfig{InsecureNoSecret: true, MaxBodyBytes: DefaultMaxWebhookBody, BodyTimeout: DefaultBodyTimeout}

func (b *Bot) serveHook(w http.ResponseWriter, r *http.Request) {
	wh := b.cfg.webhook
	if wh == nil {
		wh = &insecureHook
	}
	rc := http.NewResponseController(w)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, rc, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !wh.InsecureNoSecret && subtle.ConstantTimeCompare([]byte(r.Header.Get(SecretHeader)), []byte(wh.Secret)) != 1 {
		refuse(w, rc, http.StatusUnauthorized, "unauthorized")
		return
	}
	st := b.state.Load()
	if st == nil {
		refuse(w, rc, http.StatusServiceUnavailable, "bot not running")
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(wh.BodyTimeout)) // unsupported: the server's ReadTimeout alone (documented)
	u, err := decodeUpdate(http.MaxBytesReader(w, r.Body, wh.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			refuse(w, rc, http.StatusRequestEntityTooLarge, "request body too large")
		case errors.Is(err, os.ErrDeadlineExceeded):
			refuse(w, rc, http.StatusRequestTimeout, fmt.Sprintf("request body not received within %v", wh.BodyTimeout))
		default:
			refuse(w, rc, http.StatusBadRequest, "malformed update: "+err.Error())
		}
		return
	}
	// The body is read: no read deadline while the answer waits for the
	// handler (net/http clears it too once the body ended; firing on the
	// connection's background read it would cancel the request's context).
	_ = rc.SetReadDeadline(time.Time{})
	e, fresh := st.seen.take(u.UpdateID)
	b.received(u, !fresh)
	if !fresh {
		// A redelivery: answer when the first delivery is done.
		select {
		case <-e.done:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
			gaveUp(w)
		}
		return
	}
	handled := make(chan bool, 1)
	err = b.submit(r.Context(), st, u, func(ok bool) {
		if ok {
			close(e.done)
		} else {
			st.seen.forget(u.UpdateID, e)
		}
		handled <- ok
	})
	if err != nil {
		st.seen.forget(u.UpdateID, e)
		refuse(w, rc, http.StatusServiceUnavailable, "busy")
		return
	}
	if wh.AckImmediately {
		w.WriteHeader(http.StatusOK)
		return
	}
	select {
	case ok := <-handled:
		if ok {
			w.WriteHeader(http.StatusOK)
		} else {
			refuse(w, rc, http.StatusServiceUnavailable, "stopping")
		}
	case <-r.Context().Done():
		// Telegram gave up; it will redeliver, and the redelivery waits
		// for this handler (or is answered at once once it is done).
		gaveUp(w)
	}
}

// gaveUp answers a request whose context ended before its update was
// handled: never the 200 net/http would send for a handler that wrote
// nothing.
func gaveUp(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusServiceUnavailable)
}

// refuse answers code with msg and closes the connection without reading
// the rest of the body: net/http would otherwise drain up to 256 KiB of it
// first, at whatever pace the client sends it.
func refuse(w http.ResponseWriter, rc *http.ResponseController, code int, msg string) {
	w.Header().Set("Connection", "close")
	_ = rc.SetReadDeadline(time.Now())
	http.Error(w, msg, code)
}

// decodeUpdate reads one webhook body: exactly one JSON object, only
// whitespace around it, with a positive update_id. It reads to the end of
// r (bounded by the caller) and buffers at most the object itself.
func decodeUpdate(r io.Reader) (*tg.Update, error) {
	dec := jsontext.NewDecoder(r, json.DefaultOptionsV1())
	raw, err := dec.ReadValue()
	switch {
	case err == io.EOF:
		return nil, errors.New("empty body")
	case err != nil:
		return nil, err
	case raw.Kind() != '{':
		return nil, fmt.Errorf("not a JSON object but %s", kindName(raw.Kind()))
	}
	u := new(tg.Update)
	if err := jsonv2.Unmarshal(raw, u, json.DefaultOptionsV1()); err != nil { // before raw is overwritten
		return nil, err
	}
	if tok, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return nil, fmt.Errorf("%s after the update: a body carries exactly one object", kindName(tok.Kind()))
		}
		return nil, fmt.Errorf("trailing data after the update: %w", err)
	}
	if u.UpdateID <= 0 {
		return nil, fmt.Errorf("update_id %d: it must be positive (a missing one reads as 0)", u.UpdateID)
	}
	return u, nil
}

// kindName names a JSON kind in an error message.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "another object"
	case '[':
		return "an array"
	}
	return "a " + k.String()
}

// setWebhook registers WebhookConfig.URL with Telegram, when set. It
// returns nil when ctx ended while it ran (the bot is stopping).
func (b *Bot) setWebhook(ctx context.Context) error {
	wh := b.cfg.webhook
	if wh.URL == "" {
		return nil
	}
	p := &tg.SetWebhookParams{URL: wh.URL, SecretToken: wh.Secret, MaxConnections: wh.MaxConnections, AllowedUpdates: b.cfg.allowedUpdates}
	err := b.client.SetWebhook(ctx, p)
	switch {
	case err == nil, ctx.Err() != nil:
		return nil
	case classifyPollError(err) != nil:
		return classifyPollError(err)
	}
	return fmt.Errorf("tidygram: setWebhook: %w", err)
}

// serveWebhook runs the owned webhook server until ctx is done, then shuts
// it down: no new requests; requests waiting for handlers get the drain
// period.
func (b *Bot) serveWebhook(ctx context.Context) error {
	wh := b.cfg.webhook
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != wh.Path {
				refuse(w, http.NewResponseController(w), http.StatusNotFound, "not found")
				return
			}
			b.serveHook(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		// The webhook sets its own deadline for the body (BodyTimeout);
		// this one bounds other requests, all refused.
		ReadTimeout:    10*time.Second + wh.BodyTimeout,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 16 << 10,
		TLSConfig:      wh.TLSConfig,
		BaseContext: func(net.Listener) context.Context {
			return context.WithoutCancel(ctx)
		},
		ErrorLog: nil,
	}
	ln := wh.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", wh.Addr); err != nil {
			return fmt.Errorf("tidygram: webhook listener: %w", err)
		}
	}
	ln = newLimitListener(ln, wh.MaxOpenConns)
	if err := b.setWebhook(ctx); err != nil {
		ln.Close()
		return err
	}
	serveErr := make(chan error, 1)
	go b.labelled(ctx, "webhook", func(context.Context) {
		if wh.CertFile != "" || wh.TLSConfig != nil {
			serveErr <- srv.ServeTLS(ln, wh.CertFile, wh.KeyFile)
		} else {
			serveErr <- srv.Serve(ln)
		}
	})
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	sctx, cancel := context.WithTimeout(context.Background(), b.cfg.drainTimeout+time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // waits for requests waiting on handlers
	srv.Close()
	if err == nil {
		err = <-serveErr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// limitListener accepts a connection only while fewer than cap of its
// connections are open; Accept waits for one to close (the others wait in
// the kernel's accept queue).
type limitListener struct {
	net.Listener
	slots  chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newLimitListener(ln net.Listener, limit int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, limit), closed: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, slots: l.slots}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitConn frees its slot when it is closed the first time.
type limitConn struct {
	net.Conn
	slots chan struct{}
	once  sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.slots })
	return err
}
