package limit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/tidygram/tidygram/tg"
)

// queued returns how many calls wait for chat's lane.
func (ls *lanes) queued(chat tg.ChatID) int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ln := ls.m[chat]; ln != nil {
		return len(ln.queue)
	}
	return 0
}

func TestLanesOrder(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		cancel []int // waiters that give up
	}{
		{"first in first out", 20, nil},
		{"cancelled waiters are skipped", 20, []int{1, 5, 6, 19}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ls lanes
				chat := tg.ID(1)
				release, err := ls.acquire(context.Background(), chat) // hold the lane
				if err != nil {
					t.Fatal(err)
				}
				var (
					mu      sync.Mutex
					order   []int
					wg      sync.WaitGroup
					cancels = map[int]context.CancelFunc{}
				)
				for i := range tt.n {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					cancels[i] = cancel
					wg.Go(func() {
						rel, err := ls.acquire(ctx, chat)
						if err != nil {
							if !slices.Contains(tt.cancel, i) || !errors.Is(err, context.Canceled) {
								t.Errorf("waiter %d: %v", i, err)
							}
							return
						}
						mu.Lock()
						order = append(order, i)
						mu.Unlock()
						rel()
					})
					synctest.Wait() // waiter i is queued before i+1 starts
				}
				if q := ls.queued(chat); q != tt.n {
					t.Fatalf("%d queued, want %d", q, tt.n)
				}
				for _, i := range tt.cancel {
					cancels[i]()
				}
				synctest.Wait()
				release()
				wg.Wait()
				var want []int
				for i := range tt.n {
					if !slices.Contains(tt.cancel, i) {
						want = append(want, i)
					}
				}
				if !slices.Equal(order, want) {
					t.Fatalf("lane order %v, want %v", order, want)
				}
				if n := ls.len(); n != 0 {
					t.Fatalf("%d lanes left, want 0", n)
				}
			})
		})
	}
}

func TestLanesIndependentChats(t *testing.T) {
	var ls lanes
	ctx := context.Background()
	relA, err := ls.acquire(ctx, tg.ID(1))
	if err != nil {
		t.Fatal(err)
	}
	relB, err := ls.acquire(ctx, tg.ID(2)) // not blocked by chat 1
	if err != nil {
		t.Fatal(err)
	}
	if ls.len() != 2 {
		t.Fatalf("%d lanes, want 2", ls.len())
	}
	relA()
	relB()
	if ls.len() != 0 {
		t.Fatalf("%d lanes after release, want 0", ls.len())
	}
}
