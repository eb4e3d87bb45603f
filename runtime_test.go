package tidygram_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

func TestPollingHandlesAndConfirms(t *testing.T) {
	srv := emulator(t)
	b := newBot(t, srv)
	b.OnCommand("start", func(c *tidygram.Context) error {
		return c.Reply("welcome " + c.Sender().FirstName)
	})
	b.OnText(func(c *tidygram.Context) error {
		return c.Reply("echo: " + c.Text())
	})
	r := start(t, b)
	const users, each = 5, 8
	sims := make([]*tgtest.SimUser, users)
	for i := range sims {
		sims[i] = srv.NewUser("user" + strconv.Itoa(i))
	}
	for j := range each {
		for i, u := range sims {
			var err error
			if j == 0 {
				_, err = u.Command("start", "")
			} else {
				_, err = u.Send("hello " + strconv.Itoa(i) + "/" + strconv.Itoa(j))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, u := range sims {
		for j := range each {
			m, err := u.WaitReply(ctx)
			if err != nil {
				t.Fatalf("user %d reply %d: %v", i, j, err)
			}
			want := "echo: hello " + strconv.Itoa(i) + "/" + strconv.Itoa(j)
			if j == 0 {
				want = "welcome user" + strconv.Itoa(i)
			}
			if m.Text != want || m.ReplyToMessage == nil {
				t.Fatalf("user %d reply %d = %q (reply_to set: %v), want %q as a reply", i, j, m.Text, m.ReplyToMessage != nil, want)
			}
		}
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if p := srv.Pending(); p != 0 {
		t.Fatalf("%d updates left unconfirmed at the emulator after a clean stop", p)
	}
}

func TestStopWithPendingPollIsPrompt(t *testing.T) {
	srv := emulator(t)
	b := newBot(t, srv, tidygram.WithPollTimeout(30*time.Second))
	b.OnText(func(*tidygram.Context) error { return nil })
	r := start(t, b)
	// One update handled and confirmed proves the bot polls. The emulator
	// confirms an offset when the poll carrying it arrives, and that poll,
	// with nothing queued, then waits its 30 s: once nothing is pending the
	// bot is inside a 30 s poll, no sleep needed.
	pushText(t, srv, 1, "x")
	eventually(t, 10*time.Second, "first update confirmed", func() bool { return srv.Pending() == 0 })
	t0 := time.Now()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	d := time.Since(t0)
	// The stop cut that poll: the emulator answered it 499 (client gone),
	// or 409 when the final confirmation (a getUpdates of its own) reached
	// the emulator before it noticed the cut connection (seen once under
	// load): either way that poll was pending and nobody read its answer.
	eventually(t, 5*time.Second, "the pending poll cut by the stop", func() bool {
		c := srv.Counters().Requests["getUpdates"]
		return c[499]+c[409] == 1
	})
	if d > time.Second {
		t.Fatalf("Run took %v to return with a 30 s poll pending; want < 1 s", d)
	}
	t.Logf("stop with a 30 s poll pending: Run returned after %v", d)
}

func TestPerChatOrder(t *testing.T) {
	srv := emulator(t)
	const chats, per = 50, 50
	var mu sync.Mutex
	seen := make(map[int64][]int)
	var total atomic.Int32
	b := newBot(t, srv, tidygram.WithWorkers(16))
	b.OnText(func(c *tidygram.Context) error {
		i, err := strconv.Atoi(c.Text())
		if err != nil {
			return err
		}
		time.Sleep(time.Duration(i%3) * 100 * time.Microsecond) // vary run times
		mu.Lock()
		seen[c.Chat().ID] = append(seen[c.Chat().ID], i)
		mu.Unlock()
		total.Add(1)
		return nil
	})
	for i := range per {
		for c := range chats {
			pushText(t, srv, int64(1000+c), strconv.Itoa(i))
		}
	}
	r := start(t, b)
	eventually(t, 60*time.Second, "2,500 updates handled", func() bool { return total.Load() == chats*per })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for c := range chats {
		got := seen[int64(1000+c)]
		if len(got) != per {
			t.Fatalf("chat %d: %d updates handled, want %d", c, len(got), per)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("chat %d: message %d handled at position %d: order broken", c, v, i)
			}
		}
	}
}

func TestPanicAndErrorAreReportedAndConfirmed(t *testing.T) {
	srv := emulator(t)
	var mu sync.Mutex
	var errs []error
	b := newBot(t, srv, tidygram.WithErrorHandler(func(c *tidygram.Context, err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}))
	b.OnCommand("panic", func(*tidygram.Context) error { panic("boom") })
	b.OnCommand("fail", func(*tidygram.Context) error { return errors.New("failed on purpose") })
	r := start(t, b)
	pushText(t, srv, 5, "/panic")
	pushText(t, srv, 5, "/fail")
	eventually(t, 10*time.Second, "both errors reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(errs) == 2
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	var pe *tidygram.PanicError
	if !errors.As(errs[0], &pe) || pe.Value != "boom" || pe.Route != "/panic" || len(pe.Stack) == 0 {
		t.Fatalf("first error = %#v, want a *PanicError for /panic with its stack", errs[0])
	}
	if errs[1].Error() != "failed on purpose" {
		t.Fatalf("second error = %v", errs[1])
	}
	if p := srv.Pending(); p != 0 {
		t.Fatalf("failed updates must be confirmed, %d pending", p)
	}
}

func TestPlantedLeakIsReportedWithHandlerAndUpdate(t *testing.T) {
	srv := emulator(t)
	release := make(chan struct{})
	defer close(release)
	b := newBot(t, srv, tidygram.WithStrictLeaks(), tidygram.WithLeftoverWait(200*time.Millisecond))
	var leakedID atomic.Int64
	b.Handle("leaky-handler", tidygram.Filter(func(u *tg.Update) bool { return u.Message != nil }), func(c *tidygram.Context) error {
		leakedID.Store(c.Update.UpdateID)
		go func() { <-release }() // forgotten goroutine: inherits the handler's labels
		return nil
	})
	r := start(t, b)
	pushText(t, srv, 9, "leak please")
	eventually(t, 10*time.Second, "handler ran", func() bool { return leakedID.Load() != 0 })
	err := r.stop()
	var le *tidygram.LeakError
	if !errors.As(err, &le) {
		t.Fatalf("Run = %v, want *LeakError", err)
	}
	for _, want := range []string{"handler=leaky-handler", "update_id=" + strconv.FormatInt(leakedID.Load(), 10), "chat_id=9", "runtime_test.go"} {
		if !strings.Contains(le.Report, want) {
			t.Errorf("leak report lacks %q:\n%s", want, le.Report)
		}
	}
	if le.Count != 1 {
		t.Errorf("leak count = %d, want 1", le.Count)
	}
}

func TestBackgroundWorkIsOwned(t *testing.T) {
	srv := emulator(t)
	var started, cancelled atomic.Int32
	b := newBot(t, srv, tidygram.WithStrictLeaks(), tidygram.WithDrainTimeout(200*time.Millisecond))
	b.OnText(func(c *tidygram.Context) error {
		c.Go(func(ctx context.Context) {
			started.Add(1)
			<-ctx.Done() // runs until the bot stops
			cancelled.Add(1)
		})
		return nil
	})
	r := start(t, b)
	pushText(t, srv, 3, "work")
	eventually(t, 10*time.Second, "background work started", func() bool { return started.Load() == 1 })
	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v; background work must be cancelled and awaited, not reported", err)
	}
	if cancelled.Load() != 1 {
		t.Fatal("background work was not cancelled and awaited before Run returned")
	}
}

func TestUnauthorizedEndsRun(t *testing.T) {
	srv := emulator(t)
	b, err := tidygram.New("999:wrong-token", tidygram.WithBaseURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(context.Background())
	if !errors.Is(err, tidygram.ErrUnauthorized) {
		t.Fatalf("Run with a wrong token = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("error leaks the token: %v", err)
	}
}

func TestRunTwiceAtOnce(t *testing.T) {
	srv := emulator(t)
	b := newBot(t, srv)
	r := start(t, b)
	eventually(t, 5*time.Second, "bot started", func() bool { return b.Me() != nil })
	if err := b.Run(context.Background()); !errors.Is(err, tidygram.ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestCancelAtRandomMoments stops a busy bot at random moments, in polling
// and webhook modes: every Run must return with nothing it started left
// running (strict leak check), and no update may be confirmed unhandled.
func TestCancelAtRandomMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 12 {
		webhook := round%2 == 1
		t.Run(fmt.Sprintf("round %d webhook=%v", round, webhook), func(t *testing.T) {
			srv := emulator(t)
			var handled sync.Map
			opts := []tidygram.Option{tidygram.WithDrainTimeout(time.Duration(rng.IntN(50)) * time.Millisecond)}
			if webhook {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, tidygram.WithWebhook(tidygram.WebhookConfig{
					Secret: "x", Addr: ln.Addr().String(), Listener: ln, URL: "http://" + ln.Addr().String() + "/",
				}))
			}
			b := newBot(t, srv, opts...)
			b.OnText(func(c *tidygram.Context) error {
				select { // some handlers outlive the drain period
				case <-time.After(time.Duration(rand.IntN(20)) * time.Millisecond):
				case <-c.Done():
					return c.Err()
				}
				handled.Store(c.Update.UpdateID, true)
				return c.Send("ok")
			})
			for i := range 60 {
				pushText(t, srv, int64(1+i%6), "x")
			}
			r := start(t, b)
			time.Sleep(time.Duration(rng.IntN(80)) * time.Millisecond)
			if err := r.stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			n := 0
			handled.Range(func(any, any) bool { n++; return true })
			if confirmed := 60 - srv.Pending(); confirmed > n {
				t.Fatalf("%d updates confirmed to the emulator but only %d handled", confirmed, n)
			}
		})
	}
}

// A client passed with WithClient is the caller's: its keep-alive
// connections outlive Run by design and are not the bot's leftovers, while
// the client stays usable after Run.
func TestCallersClientIsNotReportedOrClosed(t *testing.T) {
	srv := emulator(t)
	client, err := tg.NewClient(srv.Token(), tg.WithBaseURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	b, err := tidygram.New(srv.Token(), tidygram.WithClient(client), tidygram.WithStrictLeaks(),
		tidygram.WithPollTimeout(2*time.Second), tidygram.WithLeftoverWait(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int32
	b.OnText(func(c *tidygram.Context) error {
		handled.Add(1)
		return c.Send("ok")
	})
	r := start(t, b)
	pushText(t, srv, 4, "hello")
	eventually(t, 10*time.Second, "update handled", func() bool { return handled.Load() == 1 })
	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v; the caller's idle connections are not the bot's leak", err)
	}
	if _, err := client.GetMe(context.Background()); err != nil {
		t.Fatalf("the caller's client after Run: %v", err)
	}
}
