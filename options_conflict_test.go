package tidygram_test

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/spool/spooltest"
	"github.com/tidygram/tidygram/tg"
)

// TestOptionConflicts: opposite options, options the chosen mode ignores
// and webhook fields that conflict or would be ignored are an
// *OptionError naming the option, whatever their order.
func TestOptionConflicts(t *testing.T) {
	ctl, err := limit.New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hook := func(w tidygram.WebhookConfig) tidygram.Option { return tidygram.WithWebhook(w) }
	secret := tidygram.WebhookConfig{Secret: "s"}
	tests := []struct {
		name   string
		opts   []tidygram.Option
		option string // "" when valid
	}{
		{"flood control and without", []tidygram.Option{tidygram.WithFloodControl(ctl), tidygram.WithoutFloodControl()}, "WithoutFloodControl"},
		{"without flood control and with", []tidygram.Option{tidygram.WithoutFloodControl(), tidygram.WithFloodControl(nil)}, "WithoutFloodControl"},
		{"flood control alone", []tidygram.Option{tidygram.WithFloodControl(ctl)}, ""},
		{"leak check and without", []tidygram.Option{tidygram.WithLeakCheck(time.Second), tidygram.WithoutLeakCheck()}, "WithoutLeakCheck"},
		{"without leak check and with", []tidygram.Option{tidygram.WithoutLeakCheck(), tidygram.WithLeakCheck(time.Second)}, "WithoutLeakCheck"},
		{"without leak check alone", []tidygram.Option{tidygram.WithoutLeakCheck()}, ""},

		{"secret and insecure", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", InsecureNoSecret: true})}, "WithWebhook"},
		{"insecure alone", []tidygram.Option{hook(tidygram.WebhookConfig{InsecureNoSecret: true})}, ""},
		{"listener without addr", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", Listener: ln})}, "WithWebhook"},
		{"path without addr", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", Path: "/tg"})}, "WithWebhook"},
		{"max open conns without addr", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", MaxOpenConns: 10})}, "WithWebhook"},
		{"cert files without addr", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", CertFile: "c.pem", KeyFile: "k.pem"})}, "WithWebhook"},
		{"TLS config without addr", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", TLSConfig: &tls.Config{}})}, "WithWebhook"},
		{"cert file without key file", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", Addr: ":8443", CertFile: "c.pem"})}, "WithWebhook"},
		{"key file without cert file", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", Addr: ":8443", KeyFile: "k.pem"})}, "WithWebhook"},
		{"owned server, all fields", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", Addr: "test", Listener: ln, Path: "/tg",
			MaxOpenConns: 10, CertFile: "c.pem", KeyFile: "k.pem", TLSConfig: &tls.Config{}})}, ""},

		{"webhook and poll timeout", []tidygram.Option{tidygram.WithPollTimeout(5 * time.Second), hook(secret)}, "WithPollTimeout"},
		{"webhook and poll limit", []tidygram.Option{hook(secret), tidygram.WithPollLimit(10)}, "WithPollLimit"},
		{"webhook and backoff", []tidygram.Option{hook(secret), tidygram.WithBackoff(time.Millisecond, time.Second)}, "WithBackoff"},
		{"webhook, spool and backoff", []tidygram.Option{hook(secret), tidygram.WithSpool(spooltest.New()), tidygram.WithBackoff(time.Millisecond, time.Second)}, ""},
		{"webhook without URL and allowed updates", []tidygram.Option{hook(secret), tidygram.WithAllowedUpdates("message")}, "WithAllowedUpdates"},
		{"webhook with URL and allowed updates", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", URL: "https://example.com/tg"}), tidygram.WithAllowedUpdates("message")}, ""},
		{"webhook, immediate answer and at-most-once", []tidygram.Option{hook(tidygram.WebhookConfig{Secret: "s", AckImmediately: true}), tidygram.WithAtMostOnce()}, "WithAtMostOnce"},
		{"polling options without webhook", []tidygram.Option{tidygram.WithPollTimeout(5 * time.Second), tidygram.WithPollLimit(10),
			tidygram.WithBackoff(time.Millisecond, time.Second), tidygram.WithAllowedUpdates("message"), tidygram.WithAtMostOnce()}, ""},

		{"watchdog window 0", []tidygram.Option{tidygram.WithWatchdog(leak.WithWindow(0))}, "WithWatchdog"},
		{"watchdog", []tidygram.Option{tidygram.WithWatchdog(leak.WithWindow(time.Minute))}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tidygram.New("1:x", tt.opts...)
			wantOptionError(t, err, tt.option)
		})
	}
}

// TestOptionErrorUnwraps: a sub-package's refusal is reachable through
// the *OptionError.
func TestOptionErrorUnwraps(t *testing.T) {
	_, err := tidygram.New("1:x", tidygram.WithWatchdog(leak.WithSampleInterval(-time.Second)))
	var le *leak.OptionError
	if !errors.As(err, &le) || le.Option != "WithSampleInterval" {
		t.Fatalf("New = %v, want it to wrap a *leak.OptionError for WithSampleInterval", err)
	}
}

// TestClientToken: with WithClient the token is not used, but an empty
// one is still refused.
func TestClientToken(t *testing.T) {
	client, err := tg.NewClient("1:x")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, tt := range []struct {
		token  string
		option string
	}{
		{"", "WithClient"},
		{"1:x", ""},
	} {
		_, err := tidygram.New(tt.token, tidygram.WithClient(client))
		wantOptionError(t, err, tt.option)
	}
}

// wantOptionError fails t unless err is nil (option "") or an
// *OptionError naming option.
func wantOptionError(t *testing.T, err error, option string) {
	t.Helper()
	var oe *tidygram.OptionError
	switch {
	case option == "" && err != nil:
		t.Fatalf("New = %v, want no error", err)
	case option != "" && (!errors.As(err, &oe) || oe.Option != option):
		t.Fatalf("New = %v, want an *OptionError for %s", err, option)
	}
}
