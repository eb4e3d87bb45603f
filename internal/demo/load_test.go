package demo

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/tgtest"
)

// runBot runs the demo bot against srv until the test ends (bottest.Run:
// the test fails if Run returns an error or does not return in time).
func runBot(t *testing.T, srv *tgtest.Server, rec *Recorder, opts ...tidygram.Option) {
	t.Helper()
	base := []tidygram.Option{
		tidygram.WithBaseURL(srv.URL()),
		tidygram.WithObserver(rec),
		tidygram.WithPollTimeout(2 * time.Second),
		tidygram.WithBackoff(10*time.Millisecond, 200*time.Millisecond),
		tidygram.WithStrictLeaks(),
		tidygram.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
	bot, err := NewBot(srv.Token(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	bottest.Run(t, bot)
}

// Every scenario's users get every reply right from the demo bot, with and
// without faults, and every update they sent is handled exactly once.
func TestLoadAgainstDemoBot(t *testing.T) {
	tests := []struct {
		name     string
		scenario Scenario
		faults   string
	}{
		{"demo", ScenarioDemo, "off"},
		{"demo with faults", ScenarioDemo, "default"},
		{"echo", ScenarioEcho, "off"},
		{"any", ScenarioAny, "getUpdates:502:0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tgtest.NewServer(tgtest.WithTB(t), tgtest.WithSeed(7))
			rules, err := ParseFaults(tt.faults)
			if err != nil {
				t.Fatal(err)
			}
			if err := ApplyFaults(srv, rules); err != nil {
				t.Fatal(err)
			}
			rec := &Recorder{}
			runBot(t, srv, rec)
			load := NewLoad(srv, LoadConfig{Users: 8, Scenario: tt.scenario, Think: 20 * time.Millisecond, Seed: 1})
			// Users act until 20 replies were checked (a count, not a time);
			// the deadline only bounds a broken run.
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(stop)
				wait.For(60*time.Second, func() bool {
					select {
					case <-done:
						return true
					default:
						return load.Stats().Checked >= 20
					}
				})
			}()
			load.Run(context.Background(), stop)
			close(done)

			ls := load.Stats()
			if ls.Wrong != 0 || ls.Missing != 0 || ls.Refused != 0 {
				t.Fatalf("wrong %d, missing %d, refused %d: %v", ls.Wrong, ls.Missing, ls.Refused, ls.Notes)
			}
			if ls.Checked < 20 || ls.Correct != ls.Checked {
				t.Fatalf("checked %d, correct %d: want at least 20, all correct", ls.Checked, ls.Correct)
			}
			// The Handled hook runs after the reply was sent: give it time.
			wait.For(10*time.Second, func() bool { return rec.Stats().Handled >= ls.Updates })
			bs := rec.Stats()
			if bs.Handled != ls.Updates || bs.HandledTwice != 0 {
				t.Fatalf("handled %d (twice %d), users sent %d", bs.Handled, bs.HandledTwice, ls.Updates)
			}
			if bs.Errors != 0 {
				t.Fatalf("handler errors: %v", bs.ErrorNotes)
			}
			if tt.faults != "off" && srv.Counters().Faults == nil {
				t.Fatal("no fault was injected")
			}
		})
	}
}
