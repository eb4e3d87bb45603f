package tidygram_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/router"
)

// abandonObserver records the leak and abandonment reports.
type abandonObserver struct {
	observe.Nop
	mu        sync.Mutex
	leaked    []int64
	abandoned []int64
}

func (o *abandonObserver) Leaked(r leak.Report) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.leaked = append(o.leaked, r.UpdateID)
}

func (o *abandonObserver) HandlerAbandoned(r leak.Report, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.abandoned = append(o.abandoned, r.UpdateID)
}

func (o *abandonObserver) reports() (leaked, abandoned []int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int64(nil), o.leaked...), append([]int64(nil), o.abandoned...)
}

// An abandoned handler is reported once: when it finally returns, the
// goroutine it left behind is not reported again by the per-update leak
// check, while a plain leak later in the run still is (which shows the
// check ran past the abandoned update's grace).
func TestAbandonedHandlerIsReportedOnce(t *testing.T) {
	srv := emulator(t)
	obs := &abandonObserver{}
	b := newBot(t, srv,
		tidygram.WithHandlerTimeout(300*time.Millisecond),
		tidygram.WithAbandonGrace(100*time.Millisecond),
		tidygram.WithLeakCheck(100*time.Millisecond),
		tidygram.WithObserver(obs),
		tidygram.WithErrorHandler(func(*tidygram.Context, error) {}))
	unblock, releaseChildren := make(chan struct{}), make(chan struct{})
	b.Handle("stuck", router.TextEquals("stuck"), func(c *tidygram.Context) error {
		go func() { <-releaseChildren }() // left behind
		<-unblock                         // ignores its context
		return nil
	})
	b.Handle("leaky", router.TextEquals("leaky"), func(c *tidygram.Context) error {
		go func() { <-releaseChildren }() // a plain leak
		return nil
	})
	r := start(t, b)
	stuck := pushText(t, srv, 1, "stuck")
	eventually(t, 20*time.Second, "the stuck handler abandoned", func() bool {
		_, ab := obs.reports()
		return len(ab) == 1
	})
	close(unblock) // it returns now, its child still running
	leaky := pushText(t, srv, 2, "leaky")
	eventually(t, 20*time.Second, "the plain leak reported", func() bool {
		l, _ := obs.reports()
		for _, id := range l {
			if id == leaky {
				return true
			}
		}
		return false
	})
	close(releaseChildren)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	leaked, abandoned := obs.reports()
	if len(abandoned) != 1 || abandoned[0] != stuck {
		t.Fatalf("abandoned reports %v, want one for update %d", abandoned, stuck)
	}
	for _, id := range leaked {
		if id == stuck {
			t.Fatalf("the abandoned update %d was reported again as a leak (leak reports %v)", stuck, leaked)
		}
	}
}
