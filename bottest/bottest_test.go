package bottest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

// fakeTB records what a helper reports and runs cleanups when told to.
type fakeTB struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// cleanup runs the cleanups, last registered first, as testing does.
func (f *fakeTB) cleanup() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestRunAnswersAndStopsClean(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bot := New(t, srv, tidygram.WithDrainTimeout(5*time.Second))
	bot.OnCommand("start", func(c *tidygram.Context) error {
		return c.Reply("Hello, " + c.Message().From.FirstName + "!")
	})
	bot.OnText(func(c *tidygram.Context) error { return c.Reply(strings.ToUpper(c.Text())) })
	r := Run(t, bot)
	alice := srv.NewUser("Alice")
	Expect(t, alice, "/start", "Hello, Alice!")
	Expect(t, alice, "tea", "TEA")
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop = %v, want nil", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("second Stop = %v, want the same nil", err)
	}
}

// A goroutine a handler leaves behind makes Run return a *LeakError, which
// Stop hands to the test.
func TestStopReturnsLeak(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bot := New(t, srv, tidygram.WithLeftoverWait(100*time.Millisecond))
	release := make(chan struct{})
	defer close(release) // the leaked goroutine ends with the test
	bot.OnText(func(c *tidygram.Context) error {
		go func() { <-release }() // not c.Go: the bot cannot stop it
		return c.Reply("ok")
	})
	r := Run(t, bot)
	Expect(t, srv.NewUser("Bob"), "hi", "ok")
	var le *tidygram.LeakError
	if err := r.Stop(); !errors.As(err, &le) {
		t.Fatalf("Stop = %v, want a *tidygram.LeakError", err)
	}
}

// The cleanup fails the test with Run's error, unless the test took it
// with Stop; a Run that does not return is reported with the goroutines.
func TestCleanupReports(t *testing.T) {
	defer func(d time.Duration) { stopTimeout = d }(stopTimeout)
	stopTimeout = 200 * time.Millisecond
	boom := errors.New("boom")
	stuck := make(chan struct{})
	defer close(stuck)
	tests := []struct {
		name string
		run  func(ctx context.Context) error
		stop bool   // the test calls Stop
		want string // the cleanup's report; "" for none
	}{
		{"clean", func(ctx context.Context) error { <-ctx.Done(); return nil }, false, ""},
		{"error", func(ctx context.Context) error { <-ctx.Done(); return boom }, false, "bottest: boom"},
		{"error taken by Stop", func(ctx context.Context) error { <-ctx.Done(); return boom }, true, ""},
		{"returned early", func(context.Context) error { return boom }, false, "bottest: boom"},
		{"never returns", func(context.Context) error { <-stuck; return nil }, false, "Run did not return within 200ms of cancel; goroutines now:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTB{TB: t}
			r := Start(f, tt.run)
			if tt.stop && !errors.Is(r.Stop(), boom) {
				t.Fatal("Stop did not return Run's error")
			}
			f.cleanup()
			switch {
			case tt.want == "" && len(f.errs) > 0:
				t.Fatalf("cleanup reported %q", f.errs)
			case tt.want != "" && (len(f.errs) != 1 || !strings.Contains(f.errs[0], tt.want)):
				t.Fatalf("cleanup reported %q, want one report with %q", f.errs, tt.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	getenv := Env(srv, map[string]string{"WEBHOOK_SECRET": "s"})
	for name, want := range map[string]string{
		"TELEGRAM_TOKEN": srv.Token(), "TELEGRAM_API_URL": srv.URL(), "WEBHOOK_SECRET": "s", "OTHER": "",
	} {
		if got := getenv(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	bot, err := tidygram.NewFromEnv(getenv, tidygram.WithStrictLeaks())
	if err != nil {
		t.Fatal(err)
	}
	bot.OnText(func(c *tidygram.Context) error { return c.Reply("env") })
	Run(t, bot)
	Expect(t, srv.NewUser("Carol"), "hi", "env")
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 10*time.Second, "three calls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}
