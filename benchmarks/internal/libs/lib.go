// Package libs adapts each benchmarked Telegram bot library — tidygram, the
// hand-written net/http floor and the peers — to one workload: every text
// message is answered with one sendMessage ("pong") to its chat, after an
// optional simulated delay, and reported through Env.Handled.
//
// Each adapter uses its library the way the library's README shows (its
// update loop or handler registration, its stop path, its file helpers);
// where an adapter departs from the README to work against a local server
// or to make stop measurable, Lib.Note says so. The package owns no
// goroutine beyond a Run call: Run returns only after the library's own stop
// path returned (what the library leaves behind is what the benchmark
// counts). It never talks to anything but the URL it is given.
package libs

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"time"
)

// Reply is the text every bot answers with.
const Reply = "pong"

// Env is what a benchmark bot is told by the harness.
type Env struct {
	// URL is the Bot API base URL (the emulator), Token the bot token.
	URL, Token string
	// PollTimeout is the long-poll timeout (the benchmarks use 30 s).
	PollTimeout time.Duration
	// HandlerDelay is simulated work done before the reply.
	HandlerDelay time.Duration
	// Webhook, when set, makes Run receive updates by webhook.
	Webhook *Webhook
	// Handled is called after each reply was sent (err: the send failed).
	// It must be safe for concurrent use.
	Handled func(updateID int64, err error)
}

// Webhook says where a webhook bot listens and what it registers.
type Webhook struct {
	// Listener is a listening socket on 127.0.0.1. An adapter whose
	// library can only listen by address closes it and listens on
	// Listener.Addr() itself.
	Listener net.Listener
	// URL is what the bot registers with setWebhook.
	URL string
	// Path is the path of URL ("/hook").
	Path string
	// Secret is the secret_token to register and check.
	Secret string
}

// Lib is one library under test.
type Lib struct {
	// Name is the short name used in tables and flags.
	Name string
	// Module is the Go module path whose version is reported.
	Module string
	// Note records how the library is used where that is not obvious.
	Note string
	// Run receives and answers updates until ctx is cancelled, then stops
	// the library the way its README does and returns when that stop
	// path returned.
	Run func(ctx context.Context, env Env) error
	// Upload sends the file at path to chatID as a document and returns
	// its file_id.
	Upload func(ctx context.Context, env Env, chatID int64, path string) (string, error)
	// Download writes the file fileID to w (getFile, then the library's
	// download path).
	Download func(ctx context.Context, env Env, fileID string, w io.Writer) (int64, error)
}

// All returns every library, the floor first, then tidygram, then the peers.
func All() []Lib {
	return []Lib{floor, tidygramLib, tgbotapiLib, telebotLib, gotgbLib, telegoLib, telegoNetLib}
}

// Variants returns tidygram set up otherwise, to measure what a default
// costs; they run only when named (compare -only).
func Variants() []Lib { return []Lib{tidygramBare, tidygramMetrics} }

// ByName returns the library (or variant) called name.
func ByName(name string) (Lib, error) {
	all := append(All(), Variants()...)
	if i := slices.IndexFunc(all, func(l Lib) bool { return l.Name == name }); i >= 0 {
		return all[i], nil
	}
	return Lib{}, fmt.Errorf("libs: unknown library %q", name)
}

// Version reports the version of l's module compiled into this binary
// ("(devel)" for the replaced tidygram module, "" for the floor).
func (l Lib) Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || l.Module == "" {
		return ""
	}
	if bi.Main.Path == l.Module {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == l.Module {
			if d.Replace != nil {
				return "local " + d.Replace.Path
			}
			return d.Version
		}
	}
	return ""
}

// delay sleeps for d or until ctx ends.
func delay(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// stopAfter runs stop once ctx is cancelled or done is closed; the returned
// function waits for it.
func stopAfter(ctx context.Context, done <-chan struct{}, stop func()) (wait func()) {
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	return func() { <-ended }
}

// uploadFile opens path and hands it to send, which returns the file_id.
func uploadFile(path string, send func(f *os.File) (string, error)) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return send(f)
}
