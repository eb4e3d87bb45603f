package tg

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tidygram/tidygram/tgtest"
)

// TestResponseHeaderTimeout: a server that takes a request and never
// answers. A call without a deadline fails with a *NetworkError once the
// response header timeout has passed after the request was written, a
// call with a deadline is bounded by its deadline alone (no timer of the
// Client's), and a download is bounded as a call is.
func TestResponseHeaderTimeout(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	c, err := NewClient(srv.Token(), WithBaseURL(srv.URL()), WithResponseHeaderTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hang := tgtest.Fault{Kind: tgtest.FaultHang, Duration: time.Minute}

	type headerCase struct {
		name    string
		method  string // scripted to hang on the emulator; "" for the mute server below
		call    func(ctx context.Context) error
		timeout bool // the Client's header timeout ends it
	}
	tests := []headerCase{
		{"call without deadline", "getMe", func(ctx context.Context) error { _, err := c.GetMe(ctx); return err }, true},
		{"call with deadline", "getMe", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := c.GetMe(ctx)
			return err
		}, false},
	}
	// Downloads have no scripted faults: a server that takes every request
	// and never answers.
	stop := make(chan struct{})
	mute := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer mute.Close()
	defer close(stop)
	mc, err := NewClient(srv.Token(), WithBaseURL(mute.URL), WithResponseHeaderTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	tests = append(tests, headerCase{"download without deadline", "", func(ctx context.Context) error {
		_, err := mc.Download(ctx, "photos/x.jpg", io.Discard)
		return err
	}, true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.method != "" {
				srv.ScriptFaults(tt.method, hang)
			}
			done := make(chan error, 1)
			go func() { done <- tt.call(context.Background()) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the call never ended")
			}
			var ne *NetworkError
			if !errors.As(err, &ne) {
				t.Fatalf("err = %v (%T); want a *NetworkError", err, err)
			}
			if got := errors.Is(err, errHeaderTimeout); got != tt.timeout {
				t.Fatalf("ended by the header timeout: %v, want %v (err: %v)", got, tt.timeout, err)
			}
			if !tt.timeout && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v; want the call's deadline", err)
			}
		})
	}
}
