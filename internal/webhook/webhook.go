// Package webhook is the webhook source of a bot: an http.Handler that
// takes Telegram's POSTs (secret checked before any of the body is read,
// body capped in size and time, exactly one JSON object with a positive
// update_id), remembers recent update_ids so a redelivery is handled once,
// and answers after the update's handler ended; and the owned server
// (connection cap, timeouts, graceful shutdown).
//
// webhook owns the server's goroutines (Serve returns after they ended) and
// the dedupe memory, bounded in time and count. It never handles an update
// itself: it hands each to Config.Submit with a done callback.
//
// Per request, in this order: 405 for a method other than POST; 401 for a
// wrong or missing secret (no handler runs); 503 while the bot does not
// run; 413 for a body over MaxBodyBytes (nothing decoded); 408 for a body
// not complete within BodyTimeout; 400 for a body that is not exactly one
// JSON object with a positive update_id; 503 when the queue stays full
// until Telegram gives up. Otherwise 200 after the handler ended (or once
// queued with AckImmediately). Every answer but 200 closes the connection
// at once, without reading what is left of the body.
package webhook

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

	"github.com/tidygram/tidygram/internal/jsonopt"
	"github.com/tidygram/tidygram/internal/owner"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/tg"
)

// SecretHeader is the header Telegram sends the webhook's secret token in.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Config configures a Receiver; every field is required unless marked.
type Config struct {
	Secret         string // compared in constant time
	NoSecret       bool   // accept requests without a secret
	MaxBodyBytes   int64
	BodyTimeout    time.Duration
	AckImmediately bool // answer 200 once queued
	DedupeWindow   time.Duration
	DedupeCapacity int
	// Running reports whether the bot runs (503 otherwise).
	Running func() bool
	// Submit queues u (blocking while the queue is full); done reports,
	// once, whether it was handled. An error means the bot is stopping.
	Submit   func(ctx context.Context, u *tg.Update, done func(handled bool)) error
	Observer observe.Observer
	Owner    owner.Bot
}

// ServerConfig configures the owned server.
type ServerConfig struct {
	Addr              string
	Listener          net.Listener // used instead of listening on Addr
	Path              string       // matched exactly
	MaxOpenConns      int
	CertFile, KeyFile string
	TLSConfig         *tls.Config
	Drain             time.Duration // how long answers may wait at shutdown
}

// Receiver receives webhook requests; it is an http.Handler.
type Receiver struct {
	cfg  Config
	seen *recent
}

// New returns a Receiver; it starts nothing.
func New(cfg Config) *Receiver {
	return &Receiver{cfg: cfg, seen: newRecent(cfg.DedupeWindow, cfg.DedupeCapacity)}
}

// ServeHTTP receives one webhook request (see the package doc).
func (h *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	wh := &h.cfg
	rc := http.NewResponseController(w)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, rc, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if !wh.NoSecret && subtle.ConstantTimeCompare([]byte(r.Header.Get(SecretHeader)), []byte(wh.Secret)) != 1 {
		refuse(w, rc, http.StatusUnauthorized, "unauthorized")
		return
	}
	if !h.cfg.Running() {
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
	e, fresh := h.seen.take(u.UpdateID)
	h.cfg.Observer.UpdateReceived(u, !fresh)
	if !fresh {
		// A redelivery: answer when the first delivery is done.
		select {
		case <-h.seen.ended(e):
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
			gaveUp(w)
		}
		return
	}
	handled := make(chan bool, 1)
	err = h.cfg.Submit(r.Context(), u, func(ok bool) {
		if ok {
			h.seen.finish(e)
		} else {
			h.seen.forget(u.UpdateID, e)
		}
		handled <- ok
	})
	if err != nil {
		h.seen.forget(u.UpdateID, e)
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
	dec := jsontext.NewDecoder(r, jsonopt.Decode)
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
	if err := jsonv2.Unmarshal(raw, u, jsonopt.Decode); err != nil { // before raw is overwritten
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

// Serve runs the owned webhook server until ctx is done, then shuts it
// down: no new requests; requests waiting for handlers get sc.Drain (plus
// a second) to be answered. register, called once the listener is open,
// registers the webhook with Telegram; an error from it ends Serve.
func (h *Receiver) Serve(ctx context.Context, sc ServerConfig, register func(context.Context) error) error {
	wh := &sc
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != wh.Path {
				refuse(w, http.NewResponseController(w), http.StatusNotFound, "not found")
				return
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		// The webhook sets its own deadline for the body (BodyTimeout);
		// this one bounds other requests, all refused.
		ReadTimeout:    10*time.Second + h.cfg.BodyTimeout,
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
	if err := register(ctx); err != nil {
		ln.Close()
		return err
	}
	serveErr := make(chan error, 1)
	go h.cfg.Owner.Do(ctx, "webhook", func(context.Context) {
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
	sctx, cancel := context.WithTimeout(context.Background(), sc.Drain+time.Second)
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
