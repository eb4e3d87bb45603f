package tidygram

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/tidygram/tidygram/internal/poller"
	"github.com/tidygram/tidygram/internal/webhook"
	"github.com/tidygram/tidygram/tg"
)

// SecretHeader is the header Telegram sends the webhook's secret token in.
const SecretHeader = webhook.SecretHeader

// WebhookConfig configures webhook delivery. Give it to WithWebhook.
type WebhookConfig struct {
	// Secret is the secret_token: 1–256 characters of A-Z, a-z, 0-9, _
	// and -. Required unless InsecureNoSecret is set: a request without
	// the matching header gets 401 and no handler runs. Compared in
	// constant time.
	Secret string
	// InsecureNoSecret accepts requests without a secret. Only for a
	// listener nobody else can reach. Set with a Secret, New fails.
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
	// its update is handled. Owned server only: set without Addr, New
	// fails.
	MaxOpenConns int
	// Path of the webhook in the owned server (default "/"), matched
	// exactly. Owned server only: set without Addr, New fails.
	Path string
	// CertFile and KeyFile serve TLS from the owned server; give both or
	// neither. Owned server only: set without Addr, New fails.
	CertFile, KeyFile string
	// TLSConfig, if set, is used by the owned server (with CertFile/KeyFile
	// or its own certificates). Owned server only: set without Addr, New
	// fails.
	TLSConfig *tls.Config
	// URL, when set, is registered with setWebhook when Run starts (with
	// Secret, MaxConnections and the bot's allowed updates): after the
	// owned server listens, or — with your own server — when Run starts
	// (start your server first). Run never deletes the webhook.
	URL string
	// MaxConnections for setWebhook (1–100; 0: Telegram's default 40).
	// The bot runs as many handler workers by default (see WithWorkers).
	MaxConnections int64
	// Listener, if set, is used instead of listening on Addr (tests, socket
	// activation). Addr must then be non-empty for Run to own a server; its
	// value is only informative. Set without Addr, New fails.
	Listener net.Listener
}

// check validates w and fills in its defaults. Invalid values, fields
// only the owned server reads set without Addr, and conflicting fields
// are *OptionErrors.
func (w *WebhookConfig) check() error {
	if w.Secret == "" && !w.InsecureNoSecret {
		return optErr("WithWebhook", "a webhook needs a Secret (or InsecureNoSecret)")
	}
	if w.Secret != "" && w.InsecureNoSecret {
		return optErr("WithWebhook", "Secret and InsecureNoSecret together: choose one")
	}
	if w.Addr == "" {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"Listener", w.Listener != nil}, {"Path", w.Path != ""}, {"MaxOpenConns", w.MaxOpenConns != 0},
			{"CertFile", w.CertFile != ""}, {"KeyFile", w.KeyFile != ""}, {"TLSConfig", w.TLSConfig != nil},
		} {
			if f.set {
				return optErr("WithWebhook", "%s is set without Addr: only the server Run owns (Addr) reads it; with your own server, configure that server", f.name)
			}
		}
	}
	if (w.CertFile == "") != (w.KeyFile == "") {
		return optErr("WithWebhook", "CertFile %q and KeyFile %q: give both or neither", w.CertFile, w.KeyFile)
	}
	if len(w.Secret) > 256 {
		return optErr("WithWebhook", "secret longer than 256 characters")
	}
	for _, r := range w.Secret {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return optErr("WithWebhook", "secret has %q: only A-Z, a-z, 0-9, _ and - are allowed", r)
		}
	}
	if w.MaxBodyBytes < 0 || w.BodyTimeout < 0 || w.MaxOpenConns < 0 || w.MaxConnections < 0 || w.MaxConnections > 100 {
		return optErr("WithWebhook", "MaxBodyBytes %d, BodyTimeout %v, MaxOpenConns %d must not be negative (0: default); MaxConnections %d: 0–100",
			w.MaxBodyBytes, w.BodyTimeout, w.MaxOpenConns, w.MaxConnections)
	}
	if w.MaxBodyBytes == 0 {
		w.MaxBodyBytes = DefaultMaxWebhookBody
	}
	if w.BodyTimeout == 0 {
		w.BodyTimeout = DefaultBodyTimeout
	}
	if w.MaxOpenConns == 0 {
		w.MaxOpenConns = DefaultMaxOpenConns
	}
	if w.Path == "" {
		w.Path = "/"
	}
	return nil
}

// WithWebhook makes the bot receive updates by webhook instead of long
// polling; see WebhookConfig.
//
// The owned server (Addr set) is linked into a program only through this
// option: a bot that polls carries no HTTP server or TLS server code.
func WithWebhook(w WebhookConfig) Option {
	return func(c *config) error {
		c.webhook = &w
		if w.Addr != "" {
			c.serveWebhook = (*webhook.Receiver).Serve
		}
		return nil
	}
}

// webhookConfig is the receiver's configuration: the bot's WebhookConfig,
// or without WithWebhook the defaults and no secret — WebhookHandler
// then refuses every request (a webhook needs a secret; see WithWebhook).
func (b *Bot) webhookConfig() webhook.Config {
	wh := b.cfg.webhook
	cfg := webhook.Config{
		MaxBodyBytes: DefaultMaxWebhookBody, BodyTimeout: DefaultBodyTimeout,
		DedupeWindow: DefaultDedupeWindow, DedupeCapacity: DefaultDedupeCapacity,
		Running:  func() bool { return b.state.Load() != nil },
		Submit:   b.submit,
		Observer: b.obs,
		Owner:    b.id,
	}
	if wh == nil {
		cfg.Running = func() bool { return false }
		return cfg
	}
	cfg.Secret, cfg.NoSecret, cfg.AckImmediately = wh.Secret, wh.InsecureNoSecret, wh.AckImmediately
	cfg.MaxBodyBytes, cfg.BodyTimeout = wh.MaxBodyBytes, wh.BodyTimeout
	return cfg
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
// Without WithWebhook (which sets the secret) it refuses every request.
func (b *Bot) WebhookHandler() http.Handler { return b.hook }

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
	case poller.Classify(err) != nil:
		return poller.Classify(err)
	}
	return fmt.Errorf("tidygram: setWebhook: %w", err)
}
