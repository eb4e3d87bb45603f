package tidygram_test

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// TestPollingUnderFaults runs at least 300 poll cycles while the emulator
// answers getUpdates with 502s, hangs, 429s and connections cut mid-body.
// No update may be lost, goroutines stay bounded, and every 429 is waited
// out for exactly its retry_after.
func TestPollingUnderFaults(t *testing.T) {
	srv := emulator(t, tgtest.WithSeed(7))
	faults := []struct {
		p float64
		f tgtest.Fault
	}{
		{0.15, tgtest.Fault{Kind: tgtest.FaultBadGateway}},
		{0.10, tgtest.Fault{Kind: tgtest.FaultCut}},
		{0.05, tgtest.Fault{Kind: tgtest.FaultHang, Duration: 300 * time.Millisecond}},
		{0.05, tgtest.Fault{Kind: tgtest.FaultMalformed}},
		{0.01, tgtest.Fault{Kind: tgtest.FaultTooMany, RetryAfter: 1}},
	}
	for _, f := range faults {
		if err := srv.SetFaultRate("getUpdates", f.p, f.f); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	handled := map[int64]int{}
	var badWaits, waits429 atomic.Int32
	b := newBot(t, srv,
		tidygram.WithPollTimeout(time.Second),
		tidygram.WithPollLimit(5), // small batches: many poll cycles
		tidygram.WithBackoff(time.Millisecond, 20*time.Millisecond),
		tidygram.WithObserver(pollObserver{f: func(err error, wait time.Duration) {
			var apiErr *tg.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == 429 {
				waits429.Add(1)
				if wait != apiErr.RetryAfter || wait != time.Second {
					badWaits.Add(1)
				}
			}
		}}),
	)
	b.OnText(func(c *tidygram.Context) error {
		mu.Lock()
		handled[c.Update.UpdateID]++
		mu.Unlock()
		return nil
	})
	base := runtime.NumGoroutine()
	r := start(t, b)
	var ids []int64
	maxG := 0
	polls := func() int64 {
		var n int64
		for _, c := range srv.Counters().Requests["getUpdates"] {
			n += c
		}
		return n
	}
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; polls() < 300 || i < 200; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d poll cycles in 90 s", polls())
		}
		if i < 3000 {
			ids = append(ids, pushText(t, srv, int64(1+i%7), "m"))
		}
		maxG = max(maxG, runtime.NumGoroutine())
		time.Sleep(2 * time.Millisecond)
	}
	eventually(t, 60*time.Second, "every update handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		maxG = max(maxG, runtime.NumGoroutine())
		return len(handled) == len(ids)
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, id := range ids {
		if handled[id] == 0 {
			t.Fatalf("update %d lost", id)
		}
		dups += handled[id] - 1
	}
	if dups != 0 {
		t.Errorf("%d updates handled twice within one run", dups)
	}
	if n := badWaits.Load(); n != 0 {
		t.Errorf("%d of %d 429s were not waited out for their retry_after", n, waits429.Load())
	}
	// Workers, poller, drain timer, emulator connections: bounded, never
	// growing with the number of cycles.
	if grow := maxG - base; grow > 16+30 {
		t.Errorf("goroutines grew by %d during the run (base %d, max %d)", grow, base, maxG)
	}
	c := srv.Counters()
	t.Logf("%d poll cycles, %d updates, faults %v, 429s waited %d, goroutines base %d max %d, conns accepted %d",
		polls(), len(ids), c.Faults, waits429.Load(), base, maxG, c.ConnsAccepted)
}

// pollObserver observes failed polls only.
type pollObserver struct {
	observe.Nop
	f func(err error, wait time.Duration)
}

func (o pollObserver) PollFailed(err error, wait time.Duration) { o.f(err, wait) }

// TestBlackHoledPollIsGivenUp: a long poll that gets no answer at all (the
// connection silently dropped) is abandoned PollTimeout + 3 s after it was
// sent, and the next poll delivers; with the earlier 10 s margin the first
// update came after 11 s.
func TestBlackHoledPollIsGivenUp(t *testing.T) {
	srv := emulator(t)
	if err := srv.ScriptFaults("getUpdates", tgtest.Fault{Kind: tgtest.FaultHang, Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	b := newBot(t, srv, tidygram.WithPollTimeout(time.Second))
	b.OnText(func(c *tidygram.Context) error { got <- time.Now(); return nil })
	begin := time.Now()
	r := start(t, b)
	pushText(t, srv, 1, "after the black hole")
	select {
	case at := <-got:
		t.Logf("handled %v after start (poll timeout 1 s + margin 3 s)", at.Sub(begin).Round(time.Millisecond))
	case <-time.After(8 * time.Second):
		t.Fatal("no update 8 s after a black-holed poll with a 1 s poll timeout")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
