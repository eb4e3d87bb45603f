package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tidygram/tidygram/tgtest"
)

// runEmulator serves the Bot API emulator until ctx ends.
func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	token := fs.String("token", tgtest.DefaultToken, "bot token the emulator accepts (<bot id>:<secret>)")
	username := fs.String("username", "tgtest_bot", "bot username getMe reports")
	flood := fs.Bool("flood", false, "enable flood control: ~30 msg/s per bot, 1/s per chat (burst 3), 20/min per group")
	seed := fs.Uint64("seed", 1, "seed of probabilistic faults (same seed, same faults)")
	maxPending := fs.Int("max-pending", tgtest.DefaultMaxPending, "most updates waiting for the bot")
	history := fs.Int("history", tgtest.DefaultHistoryLimit, "messages kept per chat")
	upload := fs.Int64("upload-limit", tgtest.DefaultUploadLimit, "largest uploaded file, bytes")
	download := fs.Int64("download-limit", tgtest.DefaultDownloadLimit, "largest file getFile serves, bytes")
	whTimeout := fs.Duration("webhook-timeout", tgtest.DefaultWebhookTimeout, "deadline of one webhook delivery")
	retryMin := fs.Duration("webhook-retry-min", tgtest.DefaultRetryMin, "first webhook redelivery backoff")
	retryMax := fs.Duration("webhook-retry-max", tgtest.DefaultRetryMax, "longest webhook redelivery backoff")
	idle := fs.Duration("idle-timeout", tgtest.DefaultIdleTimeout, "close keep-alive connections idle this long (many servers use 5s)")
	firstID := fs.Int64("first-update-id", 1, "update_id of the first update")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: tidygram emulator [flags]

Serves the Telegram Bot API for one bot over HTTP, like api.telegram.org:
methods at <url>/bot<token>/<method>, files at <url>/file/bot<token>/<path>.
Point any bot at it (base URL + token printed at start). Simulated users,
groups, faults, flood control and counters are driven by the control API
(JSON in and out):

%s
Flags:
`, tgtest.ControlAPIHelp())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	opts := []tgtest.Option{
		tgtest.WithAddr(*addr), tgtest.WithToken(*token), tgtest.WithBotUsername(*username),
		tgtest.WithSeed(*seed), tgtest.WithMaxPending(*maxPending), tgtest.WithHistoryLimit(*history),
		tgtest.WithUploadLimit(*upload), tgtest.WithDownloadLimit(*download),
		tgtest.WithWebhookTimeout(*whTimeout), tgtest.WithWebhookRetry(*retryMin, *retryMax, 0),
		tgtest.WithIdleTimeout(*idle), tgtest.WithFirstUpdateID(*firstID),
	}
	if *flood {
		opts = append(opts, tgtest.WithFlood(tgtest.FloodLimits{}))
	}
	srv, err := tgtest.New(opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tidygram emulator listening\nbase URL: %s\ntoken:    %s\ncontrol:  %s/_tgtest/\n", srv.URL(), srv.Token(), srv.URL())
	<-ctx.Done()
	srv.Close()
	fmt.Fprintln(stdout, "tidygram emulator stopped")
	return nil
}
