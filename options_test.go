package tidygram_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/spool/spooltest"
	"github.com/tidygram/tidygram/tg"
)

// TestOptionsValidated: every option is checked when the bot is built; an
// invalid value or combination is an *OptionError naming the option,
// never a silent clamp.
func TestOptionsValidated(t *testing.T) {
	client, err := tg.NewClient("1:x")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	tests := []struct {
		name   string
		opts   []tidygram.Option
		option string // "" when valid
	}{
		{"defaults", nil, ""},
		{"workers 0", []tidygram.Option{tidygram.WithWorkers(0)}, "WithWorkers"},
		{"queue below workers", []tidygram.Option{tidygram.WithWorkers(8), tidygram.WithQueueSize(4)}, "WithQueueSize"},
		{"handler timeout 0", []tidygram.Option{tidygram.WithHandlerTimeout(0)}, "WithHandlerTimeout"},
		{"negative drain", []tidygram.Option{tidygram.WithDrainTimeout(-time.Second)}, "WithDrainTimeout"},
		{"negative abandon grace", []tidygram.Option{tidygram.WithAbandonGrace(-1)}, "WithAbandonGrace"},
		{"poll timeout under a second", []tidygram.Option{tidygram.WithPollTimeout(500 * time.Millisecond)}, "WithPollTimeout"},
		{"poll timeout not whole seconds", []tidygram.Option{tidygram.WithPollTimeout(1500 * time.Millisecond)}, "WithPollTimeout"},
		{"poll limit 101", []tidygram.Option{tidygram.WithPollLimit(101)}, "WithPollLimit"},
		{"unknown update kind", []tidygram.Option{tidygram.WithAllowedUpdates("message", "mesage")}, "WithAllowedUpdates"},
		{"backoff min above max", []tidygram.Option{tidygram.WithBackoff(time.Second, time.Millisecond)}, "WithBackoff"},
		{"nil observer", []tidygram.Option{tidygram.WithObserver(nil)}, "WithObserver"},
		{"webhook without secret", []tidygram.Option{tidygram.WithWebhook(tidygram.WebhookConfig{})}, "WithWebhook"},
		{"webhook with at-most-once", []tidygram.Option{tidygram.WithWebhook(tidygram.WebhookConfig{Secret: "s"}), tidygram.WithAtMostOnce()}, "WithAtMostOnce"},
		{"client and base URL", []tidygram.Option{tidygram.WithClient(client), tidygram.WithBaseURL("http://127.0.0.1:1")}, "WithClient"},
		{"client and flood control", []tidygram.Option{tidygram.WithClient(client), tidygram.WithoutFloodControl()}, "WithClient"},
		{"client alone", []tidygram.Option{tidygram.WithClient(client)}, ""},
		{"nil spool", []tidygram.Option{tidygram.WithSpool(nil)}, "WithSpool"},
		{"spool with at-most-once", []tidygram.Option{tidygram.WithSpool(spooltest.New()), tidygram.WithAtMostOnce()}, "WithSpool"},
		{"spool with an immediate webhook answer", []tidygram.Option{tidygram.WithSpool(spooltest.New()), tidygram.WithWebhook(tidygram.WebhookConfig{Secret: "s", AckImmediately: true})}, "WithSpool"},
		{"spool with a webhook", []tidygram.Option{tidygram.WithSpool(spooltest.New()), tidygram.WithWebhook(tidygram.WebhookConfig{Secret: "s"})}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tidygram.New("1:x", tt.opts...)
			var oe *tidygram.OptionError
			switch {
			case tt.option == "" && err != nil:
				t.Fatalf("New = %v, want no error", err)
			case tt.option != "" && !errors.As(err, &oe):
				t.Fatalf("New = %v, want an *OptionError for %s", err, tt.option)
			case tt.option != "" && oe.Option != tt.option:
				t.Fatalf("OptionError names %s (%v), want %s", oe.Option, err, tt.option)
			}
		})
	}
}

// TestWebhookHandlerNeedsWithWebhook: without WithWebhook (which sets the
// secret) the webhook handler refuses every request, secret or not, and
// runs no handler.
func TestWebhookHandlerNeedsWithWebhook(t *testing.T) {
	srv := emulator(t)
	b := newBot(t, srv)
	var ran atomic.Int32
	b.OnText(func(c *tidygram.Context) error { ran.Add(1); return nil })
	r := start(t, b)
	eventually(t, 10*time.Second, "bot running", func() bool { return b.Me() != nil })
	hook := httptest.NewServer(b.WebhookHandler())
	defer hook.Close()
	body := `{"update_id":7,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"hi"}}`
	for _, secret := range []string{"", "anything"} {
		req, _ := http.NewRequest(http.MethodPost, hook.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set(tidygram.SecretHeader, secret)
		}
		resp, err := hook.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("secret %q: answered 200 without WithWebhook", secret)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 0 {
		t.Fatal("a handler ran for a webhook request without WithWebhook")
	}
}
