package exlog

import (
	"context"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

// lines receives what a slog handler writes, one record per Write.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// next returns the next log line, failing the test after a generous
// deadline.
func (l lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("no log line within 30 s")
		return ""
	}
}

// A bot run through a Life logs three lines, in order: starting (with the
// pid), connected (with the username getMe answered) and, after a clean
// stop, stopped; a Run that fails logs no more than starting.
func TestLife(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t), tgtest.WithBotUsername("life_bot"))
	tests := []struct {
		name  string
		token string
		want  []string // the log lines, in order
	}{
		{"clean stop", srv.Token(), []string{
			`level=INFO msg="echo: starting" pid=\d+\n`,
			`level=INFO msg="echo: connected" username=@life_bot\n`,
			`level=INFO msg="echo: stopped" ran=\S+\n`,
		}},
		{"token refused", "123:wrong", []string{
			`level=INFO msg="echo: starting" pid=\d+\n`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := make(lines, 10)
			life := starting("echo", slog.New(slog.NewTextHandler(out, nil)))
			bot, err := tidygram.New(tt.token, tidygram.WithBaseURL(srv.URL()), life.Option())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- life.Run(ctx, bot) }()
			fails := len(tt.want) == 1
			var got []string
			for range tt.want {
				got = append(got, out.next(t))
				if len(got) == 2 { // connected: stop the bot
					cancel()
				}
			}
			if err := <-done; (err != nil) != fails {
				t.Fatalf("Run: %v, want failure %v", err, fails)
			}
			close(out)
			for s := range out {
				got = append(got, s)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d lines, want %d: %q", len(got), len(tt.want), got)
			}
			for i, re := range tt.want {
				if !regexp.MustCompile(re).MatchString(got[i]) {
					t.Errorf("line %d %q does not match %s", i+1, got[i], re)
				}
			}
		})
	}
}
