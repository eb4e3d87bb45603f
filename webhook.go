package tidygram

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

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
	// AckImmediately answers 200 as soon as the update is queued instead
	// of after its handler ended. Faster for Telegram, but an update in
	// the queue at a crash is lost, and Telegram's per-chat order (it
	// waits for the answer before sending the chat's next update) is then
	// kept only by the bot's own lanes.
	AckImmediately bool

	// Addr, when set, makes Run own an http.Server listening there (Path
	// serves the webhook; everything else is 404) and shut it down
	// gracefully at stop. When empty, mount Bot.WebhookHandler in your
	// own server and Run only runs the handlers.
	Addr string
	// Path of the webhook in the owned server (default "/").
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
// retries later). Per request: 405 for a method other than POST, 401 for a
// wrong or missing secret (no handler runs), 413 for a body over
// MaxBodyBytes (nothing decoded), 400 for malformed JSON, 503 when the queue
// stays full until Telegram gives up; otherwise 200 after the handler ended
// (or once queued with AckImmediately). A redelivered update_id is handled
// once: it is answered when the first delivery's handler ends.
func (b *Bot) WebhookHandler() http.Handler { return http.HandlerFunc(b.serveHook) }

func (b *Bot) serveHook(w http.ResponseWriter, r *http.Request) {
	wh := b.cfg.webhook
	if wh == nil {
		wh = &WebhookConfig{InsecureNoSecret: true, MaxBodyBytes: DefaultMaxWebhookBody}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !wh.InsecureNoSecret && subtle.ConstantTimeCompare([]byte(r.Header.Get(SecretHeader)), []byte(wh.Secret)) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	st := b.state.Load()
	if st == nil {
		http.Error(w, "bot not running", http.StatusServiceUnavailable)
		return
	}
	var u tg.Update
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, wh.MaxBodyBytes))
	if err := dec.Decode(&u); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "malformed update: "+err.Error(), http.StatusBadRequest)
		return
	}
	if u.UpdateID == 0 {
		http.Error(w, "malformed update: no update_id", http.StatusBadRequest)
		return
	}
	e, fresh := st.seen.take(u.UpdateID)
	b.received(&u, !fresh)
	if !fresh {
		// A redelivery: answer when the first delivery is done.
		select {
		case <-e.done:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
		return
	}
	handled := make(chan bool, 1)
	err := b.submit(r.Context(), st, &u, func(ok bool) {
		if ok {
			close(e.done)
		} else {
			st.seen.forget(u.UpdateID, e)
		}
		handled <- ok
	})
	if err != nil {
		st.seen.forget(u.UpdateID, e)
		http.Error(w, "busy", http.StatusServiceUnavailable)
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
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		}
	case <-r.Context().Done():
		// Telegram gave up; it will redeliver, and the redelivery waits
		// for this handler (or is answered at once once it is done).
	}
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
	mux := http.NewServeMux()
	mux.Handle("POST "+wh.Path, b.WebhookHandler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		TLSConfig:         wh.TLSConfig,
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
