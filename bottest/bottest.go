// Package bottest runs a bot in a test against the Bot API emulator
// (package tgtest): it starts Run in the background, stops it when the test
// ends, and fails the test if Run returned an error — a *tidygram.LeakError
// when a goroutine the bot started outlived it — or did not return in time.
//
//	func TestStart(t *testing.T) {
//		srv := tgtest.NewServer(tgtest.WithTB(t)) // the emulator, closed with the test
//		bot := bottest.New(t, srv)                // talks to srv; Run fails on leaks
//		registerHandlers(bot)
//		bottest.Run(t, bot)                       // stopped and checked at cleanup
//
//		alice := srv.NewUser("Alice")
//		bottest.Expect(t, alice, "/start", "Hello, Alice!")
//	}
//
// bottest imports testing, tidygram and tgtest: only tests import it.
//
// # What it owns
//
// The goroutine that calls Run, and the context Run is given: both end
// before the test's cleanup returns, or the test fails. Cleanups run last
// registered first, so a bot started after its emulator stops before the
// emulator closes.
//
// # What it never does
//
// It never mocks the Bot API client: the bot talks HTTP over 127.0.0.1 to
// the emulator it is given. It keeps no state between tests and leaves no
// goroutine behind a test that passed.
package bottest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/tgtest"
)

// StopTimeout bounds how long Run may take to return after its context was
// cancelled: far more than a bot needs with the default options
// (DrainTimeout, abandon grace, the final confirmation and LeftoverWait).
const StopTimeout = 30 * time.Second

// stopTimeout is StopTimeout; the package's tests shorten it.
var stopTimeout = StopTimeout

// ReplyTimeout bounds how long Reply and Expect wait for the bot's message.
const ReplyTimeout = 10 * time.Second

// New returns a bot talking to srv, built with tidygram.WithBaseURL and
// tidygram.WithStrictLeaks (Run returns a *tidygram.LeakError when a
// goroutine the bot started outlives it) and then opts. It fails t if the
// options are refused.
func New(t testing.TB, srv *tgtest.Server, opts ...tidygram.Option) *tidygram.Bot {
	t.Helper()
	base := []tidygram.Option{tidygram.WithBaseURL(srv.URL()), tidygram.WithStrictLeaks()}
	bot, err := tidygram.New(srv.Token(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return bot
}

// Env returns a getenv for tidygram.NewFromEnv (or a program's own
// configuration) that gives srv's token and URL as TELEGRAM_TOKEN and
// TELEGRAM_API_URL, vars for the names it holds, and "" for the rest.
func Env(srv *tgtest.Server, vars map[string]string) func(string) string {
	all := map[string]string{tidygram.EnvToken: srv.Token(), tidygram.EnvAPIURL: srv.URL()}
	for k, v := range vars {
		all[k] = v
	}
	return func(name string) string { return all[name] }
}

// Running is a bot's Run (or another run function) in the background of a
// test.
type Running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
	judged atomic.Bool // Stop was called: the error is the test's to judge
}

// Run runs bot.Run in the background until Stop or the end of the test.
// At cleanup it cancels Run's context and fails t if Run returned an error
// or did not return within StopTimeout, unless the test called Stop itself.
func Run(t testing.TB, bot *tidygram.Bot) *Running {
	t.Helper()
	return Start(t, bot.Run)
}

// Start is Run for any function that serves until its context ends and
// returns nil after a clean stop: a program's run(ctx, getenv), a bot and
// the services around it.
func Start(t testing.TB, run func(ctx context.Context) error) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(); err != nil && !r.judged.Load() {
			t.Errorf("bottest: %v", err)
		}
	})
	return r
}

// Stop cancels Run's context and returns Run's error: nil after a clean
// stop, a *tidygram.LeakError when goroutines outlived it, or an error
// when Run did not return within StopTimeout (with the goroutines still
// running, by owner). Later calls return the same error. The test judges
// the error itself: the cleanup no longer reports it.
func (r *Running) Stop() error {
	r.judged.Store(true)
	return r.stop()
}

func (r *Running) stop() error {
	r.once.Do(func() {
		r.cancel()
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case r.err = <-r.done:
		case <-t.C:
			r.err = fmt.Errorf("Run did not return within %v of cancel; goroutines now:\n%s", stopTimeout, goroutines())
		}
	})
	return r.err
}

// goroutines lists the process's goroutines by owner and stack.
func goroutines() string {
	groups, err := leak.Snapshot()
	if err != nil {
		return "(no goroutine profile: " + err.Error() + ")"
	}
	return leak.Format(groups)
}

// Reply waits up to ReplyTimeout for the bot's next message to u and
// fails t if none comes.
func Reply(t testing.TB, u *tgtest.SimUser) tgtest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReplyTimeout)
	defer cancel()
	m, err := u.WaitReply(ctx)
	if err != nil {
		t.Fatalf("no reply from the bot within %v: %v", ReplyTimeout, err)
	}
	return m
}

// Expect has u send text — a command when it starts with "/", its
// arguments after the first space — and fails t unless the bot's next
// message to u is want. It returns that message.
func Expect(t testing.TB, u *tgtest.SimUser, text, want string) tgtest.Message {
	t.Helper()
	var err error
	if len(text) > 1 && text[0] == '/' {
		name, args, _ := strings.Cut(text[1:], " ")
		_, err = u.Command(name, args)
	} else {
		_, err = u.Send(text)
	}
	if err != nil {
		t.Fatal(err)
	}
	m := Reply(t, u)
	if m.Text != want {
		t.Fatalf("after %q the bot said %q, want %q", text, m.Text, want)
	}
	return m
}

// Eventually calls cond every few milliseconds until it returns true, and
// fails t (naming what it waited for) if it has not within d. Like
// t.Fatal, it must be called from the test's goroutine.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, d, what, cond)
}
