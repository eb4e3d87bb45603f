// Command webhook is a bot that receives its updates by webhook, behind
// an http.Server of its own with other routes beside the bot's: tidygram
// only provides the handler (Bot.WebhookHandler) and runs the handlers.
//
//	TELEGRAM_TOKEN=123:abc WEBHOOK_URL=https://bot.example.com/telegram \
//	WEBHOOK_SECRET=$(openssl rand -hex 32) go run ./examples/webhook
//
// Environment: TELEGRAM_TOKEN; TELEGRAM_API_URL (default the real Bot
// API); WEBHOOK_SECRET (required: Telegram sends it with every request and
// requests without it get 401); WEBHOOK_ADDR, where the server listens
// (default :8080); WEBHOOK_URL, the public URL of /telegram registered
// with setWebhook at start (unset: register it yourself). Put a TLS proxy
// in front, or see WebhookConfig for TLS. The server cuts slow clients
// (headers within 5 s, the webhook's body within 10 s, a request without
// the secret at once); cap its connections in that proxy or with a limit
// listener. SIGINT or SIGTERM stops the bot (webhook requests then get
// 503, so Telegram retries later), then the server; it exits 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/examples/internal/exlog"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx ends; it returns nil after a clean stop.
func run(ctx context.Context, getenv func(string) string) error {
	secret := getenv("WEBHOOK_SECRET")
	if secret == "" {
		return errors.New("set WEBHOOK_SECRET")
	}
	addr := getenv("WEBHOOK_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	// Addr is empty: the server below is ours, Run only runs handlers and
	// registers URL (when set) with setWebhook as it starts.
	// life logs three lines: starting, connected (as whom), stopped.
	life := exlog.Starting("webhook")
	bot, err := tidygram.NewFromEnv(getenv, life.Option(), tidygram.WithWebhook(tidygram.WebhookConfig{Secret: secret, URL: getenv("WEBHOOK_URL")}))
	if err != nil {
		return err
	}
	bot.OnText(func(c *tidygram.Context) error {
		return c.Reply("You said: " + c.Text())
	})

	mux := http.NewServeMux()
	mux.Handle("POST /telegram", bot.WebhookHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second, // a client trickling its headers is cut
		// The whole of any other request; the webhook sets its own, shorter
		// deadline for its body (WebhookConfig.BodyTimeout, 10 s) and none
		// while the answer waits for the handler.
		ReadTimeout:    30 * time.Second,
		IdleTimeout:    time.Minute,
		MaxHeaderBytes: 16 << 10,
		// No WriteTimeout: the webhook answers once the handler ended.
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { // ends when the server is shut down below
		err := server.Serve(ln)
		cancel() // the server failed: stop the bot too
		served <- err
	}()
	runErr := life.Run(ctx, bot) // the server listens: Run registers the webhook, then serves until ctx ends
	shutdown, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	shutErr := server.Shutdown(shutdown)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(fmt.Errorf("webhook server: %w", err), runErr)
	}
	return errors.Join(runErr, shutErr)
}
