package tidygram_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/tgtest"
)

// TestStuckHandlerIsAbandoned: a handler that ignores its context (blocks
// on a channel nobody closes while the bot runs) must not stall the bot:
// 300 updates of other chats and the same chat's later ones are handled,
// in order; the stuck one is reported once (error handler, naming handler,
// update, chat and the line it blocks on), counted as failed and confirmed;
// Run returns within the drain period + leftover wait + a small constant
// and returns the goroutine it left behind as a *LeakError.
func TestStuckHandlerIsAbandoned(t *testing.T) {
	srv := emulator(t)
	release := make(chan struct{}) // closed only after Run returned
	defer close(release)
	const drain, leftover = 2 * time.Second, 500 * time.Millisecond
	var mu sync.Mutex
	var abandoned []*tidygram.AbandonedError
	var otherErrs []error
	b := newBot(t, srv,
		tidygram.WithHandlerTimeout(time.Second),
		tidygram.WithAbandonGrace(200*time.Millisecond),
		tidygram.WithDrainTimeout(drain),
		tidygram.WithLeftoverWait(leftover),
		tidygram.WithErrorHandler(func(c *tidygram.Context, err error) {
			mu.Lock()
			defer mu.Unlock()
			var ae *tidygram.AbandonedError
			if errors.As(err, &ae) {
				abandoned = append(abandoned, ae)
				return
			}
			otherErrs = append(otherErrs, err)
		}))
	var handled atomic.Int64
	var orderMu sync.Mutex
	seen := map[int64][]int{} // chat → sequence numbers in handling order
	entered := make(chan struct{}, 2)
	b.Handle("stuck", router.TextEquals("stuck"), func(c *tidygram.Context) error {
		entered <- struct{}{}
		<-release // ignores c.Done(): the misbehaving handler
		return nil
	})
	b.OnText(func(c *tidygram.Context) error {
		n, err := strconv.Atoi(c.Text())
		if err != nil {
			t.Errorf("unexpected text %q", c.Text())
			return nil
		}
		orderMu.Lock()
		seen[c.Chat().ID] = append(seen[c.Chat().ID], n)
		orderMu.Unlock()
		handled.Add(1)
		return nil
	})
	r := start(t, b)
	stuckID := pushText(t, srv, 7, "stuck")
	const chats, perChat = 10, 30
	for i := range perChat {
		pushText(t, srv, 7, strconv.Itoa(i)) // behind the stuck one, same chat
		for c := range chats {
			pushText(t, srv, int64(100+c), strconv.Itoa(i))
		}
	}
	total := int64(perChat * (chats + 1))
	eventually(t, 30*time.Second, "every update after the stuck one handled", func() bool { return handled.Load() == total })
	for chat, got := range seen {
		for i, v := range got {
			if v != i {
				t.Fatalf("chat %d: update %d handled at position %d", chat, v, i)
			}
		}
	}
	mu.Lock()
	if len(abandoned) != 1 {
		t.Fatalf("error handler got %d AbandonedErrors, want 1 (others: %v)", len(abandoned), otherErrs)
	}
	ae := abandoned[0]
	mu.Unlock()
	if ae.Route != "stuck" || ae.UpdateID != stuckID || ae.Report.ChatID != "7" || ae.Report.Count < 1 {
		t.Fatalf("AbandonedError = route %q update %d chat %q count %d, want stuck/%d/7/≥1", ae.Route, ae.UpdateID, ae.Report.ChatID, ae.Report.Count, stuckID)
	}
	if rep := leakFormat(ae); !strings.Contains(rep, "supervise_test.go") {
		t.Errorf("abandonment report does not name the line the handler blocks on:\n%s", rep)
	}
	// The stuck update was confirmed as failed: nothing stays pending.
	eventually(t, 10*time.Second, "every update confirmed", func() bool { return srv.Pending() == 0 })

	// A second stuck handler, running when the bot is stopped: Run still
	// returns in bounded time and reports both leftover goroutines.
	pushText(t, srv, 8, "stuck")
	<-entered // the first
	<-entered // the second is running
	begin := time.Now()
	err := r.stop()
	took := time.Since(begin)
	if limit := drain + leftover + 5*time.Second; took > limit {
		t.Errorf("Run returned %v after cancel, want at most %v", took, limit)
	}
	var le *tidygram.LeakError
	if !errors.As(err, &le) || le.Count != 2 || !strings.Contains(le.Report, "handler=stuck") {
		t.Fatalf("Run = %v, want a *LeakError naming the 2 stuck handler goroutines", err)
	}
	t.Logf("Run returned %v after cancel; leftover report:\n%s", took.Round(time.Millisecond), le.Report)
}

func leakFormat(ae *tidygram.AbandonedError) string { return ae.Error() }

// TestStuckChatDoesNotHoldOthers: while one chat's handler is stuck (and
// not yet abandoned), other chats go on up to what Telegram's window
// allows: every update below watermark + limit is handled.
func TestStuckChatDoesNotHoldOthers(t *testing.T) {
	srv := emulator(t)
	release := make(chan struct{})
	const limit = 100
	b := newBot(t, srv, tidygram.WithPollLimit(limit), tidygram.WithHandlerTimeout(time.Minute))
	var handled atomic.Int64
	stuck := make(chan struct{})
	b.Handle("stuck", router.TextEquals("stuck"), func(c *tidygram.Context) error {
		close(stuck)
		select {
		case <-release:
		case <-c.Done():
		}
		return nil
	})
	b.OnText(func(c *tidygram.Context) error { handled.Add(1); return nil })
	r := start(t, b)
	pushText(t, srv, 1, "stuck")
	<-stuck
	for i := range 300 {
		pushText(t, srv, int64(10+i%20), "x")
	}
	// The window holds the stuck update and limit-1 others.
	eventually(t, 20*time.Second, "limit-1 updates of other chats handled", func() bool { return handled.Load() == limit-1 })
	close(release)
	eventually(t, 20*time.Second, "all updates handled once the stuck one ended", func() bool { return handled.Load() == 300 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestGoAfterStop: Context.Go once the bot stopped returns ErrNotRunning
// and starts nothing.
func TestGoAfterStop(t *testing.T) {
	srv := emulator(t)
	b := newBot(t, srv)
	kept := make(chan *tidygram.Context, 1)
	b.OnText(func(c *tidygram.Context) error {
		kept <- c
		return nil
	})
	r := start(t, b)
	pushText(t, srv, 1, "hi")
	c := <-kept
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	ran := false
	if err := c.Go(func(context.Context) { ran = true }); !errors.Is(err, tidygram.ErrNotRunning) {
		t.Fatalf("Go after stop = %v, want ErrNotRunning", err)
	}
	if ran {
		t.Fatal("Go after stop ran its function")
	}
}

// TestStopWithHandlerIgnoringCancel: a handler that ignores its context
// when the bot stops (long before its timeout) does not hold Run beyond
// the drain period + StopGrace + leftover wait; its update stays
// unconfirmed (it did not finish) and its goroutine is reported.
func TestStopWithHandlerIgnoringCancel(t *testing.T) {
	srv := emulator(t)
	release := make(chan struct{})
	defer close(release)
	const drain, leftover = 300 * time.Millisecond, 300 * time.Millisecond
	b := newBot(t, srv, tidygram.WithHandlerTimeout(time.Minute), tidygram.WithDrainTimeout(drain), tidygram.WithLeftoverWait(leftover))
	running := make(chan struct{})
	b.Handle("deaf", router.TextEquals("deaf"), func(c *tidygram.Context) error {
		close(running)
		<-release
		return nil
	})
	r := start(t, b)
	pushText(t, srv, 5, "deaf")
	<-running
	begin := time.Now()
	err := r.stop()
	if took, limit := time.Since(begin), drain+tidygram.StopGrace+leftover+5*time.Second; took > limit {
		t.Errorf("Run returned %v after cancel, want at most %v", took, limit)
	}
	var le *tidygram.LeakError
	if !errors.As(err, &le) || le.Count != 1 || !strings.Contains(le.Report, "handler=deaf") {
		t.Fatalf("Run = %v, want a *LeakError naming handler deaf", err)
	}
	if n := srv.Pending(); n != 1 {
		t.Fatalf("%d updates pending at the server after stop, want 1 (the unfinished one, for redelivery)", n)
	}
}

// TestUpdateIDsNoOffsetCanConfirm: a server whose update_ids reach
// math.MaxInt64 must not make the watermark wrap into a negative offset
// (on Telegram that discards the queue): the confirmable updates are
// handled once, the one at MaxInt64 is refused, nothing is discarded.
func TestUpdateIDsNoOffsetCanConfirm(t *testing.T) {
	srv := emulator(t, tgtest.WithFirstUpdateID(math.MaxInt64-2))
	b := newBot(t, srv)
	var mu sync.Mutex
	got := map[int64]int{}
	b.OnText(func(c *tidygram.Context) error {
		mu.Lock()
		got[c.Update.UpdateID]++
		mu.Unlock()
		return nil
	})
	r := start(t, b)
	for range 3 {
		pushText(t, srv, 4, "near the end")
	}
	eventually(t, 10*time.Second, "both confirmable updates handled and confirmed", func() bool {
		return srv.Counters().UpdatesConfirmed == 2
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[int64]int{math.MaxInt64 - 2: 1, math.MaxInt64 - 1: 1}
	if len(got) != 2 || got[math.MaxInt64-2] != 1 || got[math.MaxInt64-1] != 1 {
		t.Fatalf("handled %v, want %v (the update at MaxInt64 refused)", got, want)
	}
	if c := srv.Counters(); c.UpdatesDropped != 0 || c.UpdatesPending != 1 {
		t.Fatalf("server dropped %d updates (a wrapped offset), %d pending; want 0 dropped, 1 pending", c.UpdatesDropped, c.UpdatesPending)
	}
}
