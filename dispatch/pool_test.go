package dispatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs p until the returned stop is called; stop returns after Run.
func start(p *Pool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	taskCtx, cancelTasks := context.WithCancel(context.Background())
	drain := make(chan struct{})
	done := make(chan struct{})
	go func() { p.Run(ctx, taskCtx, drain); close(done) }()
	return func() {
		cancel()
		<-done
		cancelTasks()
	}
}

func TestPerKeyOrder(t *testing.T) {
	tests := []struct {
		name                  string
		workers, keys, perKey int
		queue                 int
	}{
		{"16 workers 50 chats x 50", 16, 50, 50, 64},
		{"1 worker", 1, 5, 20, 8},
		{"more workers than keys", 8, 2, 100, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Config{Workers: tt.workers, QueueSize: tt.queue})
			stop := start(p)
			var mu sync.Mutex
			got := make(map[int64][]int)
			running := make(map[int64]bool)
			var overlap atomic.Int32
			var wg sync.WaitGroup
			for i := range tt.perKey {
				for k := range tt.keys {
					key := int64(k)
					wg.Add(1)
					err := p.Submit(context.Background(), key, false, func(context.Context) {
						defer wg.Done()
						mu.Lock()
						if running[key] {
							overlap.Add(1)
						}
						running[key] = true
						mu.Unlock()
						time.Sleep(time.Microsecond)
						mu.Lock()
						running[key] = false
						got[key] = append(got[key], i)
						mu.Unlock()
					})
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			wg.Wait()
			stop()
			if n := overlap.Load(); n != 0 {
				t.Fatalf("%d tasks of one key ran at the same time", n)
			}
			for k := range tt.keys {
				seq := got[int64(k)]
				if len(seq) != tt.perKey {
					t.Fatalf("key %d: %d tasks ran, want %d", k, len(seq), tt.perKey)
				}
				for i, v := range seq {
					if v != i {
						t.Fatalf("key %d: task %d ran at position %d", k, v, i)
					}
				}
			}
			if n := p.Keys(); n != 0 {
				t.Fatalf("%d idle lanes kept after all work ended", n)
			}
		})
	}
}

func TestKeysRunInParallel(t *testing.T) {
	p := New(Config{Workers: 4})
	stop := start(p)
	defer stop()
	// Four tasks of four keys must all be running at once: each waits for
	// the others (a deadlock here means keys were serialised).
	var arrived sync.WaitGroup
	arrived.Add(4)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	done := make(chan bool, 4)
	for k := range 4 {
		p.Submit(context.Background(), int64(k), false, func(context.Context) {
			arrived.Done()
			select {
			case <-all:
				done <- true
			case <-time.After(10 * time.Second):
				done <- false
			}
		})
	}
	for range 4 {
		if !<-done {
			t.Fatal("tasks of different keys did not run in parallel")
		}
	}
}

func TestSubmitBackpressure(t *testing.T) {
	p := New(Config{Workers: 1, QueueSize: 2})
	stop := start(p)
	defer stop()
	release := make(chan struct{})
	for range 2 {
		if err := p.Submit(context.Background(), 1, false, func(context.Context) { <-release }); err != nil {
			t.Fatal(err)
		}
	}
	if p.Len() != 2 {
		t.Fatalf("Len = %d, want 2", p.Len())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Submit(ctx, 2, false, func(context.Context) {})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full queue = %v, want DeadlineExceeded", err)
	}
	close(release)
}

func TestDrainRunsQueuedWork(t *testing.T) {
	p := New(Config{Workers: 2, QueueSize: 100})
	var ran atomic.Int32
	stop := start(p)
	for i := range 100 {
		p.Submit(context.Background(), int64(i%3), false, func(context.Context) {
			time.Sleep(100 * time.Microsecond)
			ran.Add(1)
		})
	}
	stop()
	if n := ran.Load(); n != 100 {
		t.Fatalf("%d of 100 queued tasks ran before Run returned", n)
	}
	if err := p.Submit(context.Background(), 1, false, func(context.Context) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after stop = %v, want ErrClosed", err)
	}
}

func TestDrainTimeoutDropsQueued(t *testing.T) {
	var dropped atomic.Int32
	p := New(Config{Workers: 1, QueueSize: 10, Dropped: func(int64, Task) { dropped.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	taskCtx, cancelTasks := context.WithCancel(context.Background())
	drain := make(chan struct{})
	done := make(chan struct{})
	go func() { p.Run(ctx, taskCtx, drain); close(done) }()
	started := make(chan struct{})
	var sawCancel atomic.Bool
	p.Submit(context.Background(), 1, false, func(c context.Context) {
		close(started)
		<-c.Done()
		sawCancel.Store(true)
	})
	for range 5 {
		p.Submit(context.Background(), 1, false, func(context.Context) { t.Error("task ran after the drain period") })
	}
	<-started
	cancel()
	// The drain period ends: tasks are cancelled and the queue is dropped.
	close(drain)
	cancelTasks()
	<-done
	if !sawCancel.Load() {
		t.Fatal("running task did not see its context cancelled")
	}
	if n := dropped.Load(); n != 5 {
		t.Fatalf("Dropped got %d tasks, want 5", n)
	}
	if n := p.Keys(); n != 0 {
		t.Fatalf("%d lanes left after stop", n)
	}
}

func TestUnorderedRunsInParallel(t *testing.T) {
	p := New(Config{Workers: 2})
	stop := start(p)
	defer stop()
	var arrived sync.WaitGroup
	arrived.Add(2)
	ok := make(chan bool, 2)
	for range 2 {
		p.Submit(context.Background(), 0, true, func(context.Context) {
			arrived.Done()
			c := make(chan struct{})
			go func() { arrived.Wait(); close(c) }()
			select {
			case <-c:
				ok <- true
			case <-time.After(10 * time.Second):
				ok <- false
			}
		})
	}
	for range 2 {
		if !<-ok {
			t.Fatal("unordered tasks were serialised")
		}
	}
}

func BenchmarkSubmit(b *testing.B) {
	p := New(Config{Workers: 4, QueueSize: 1024})
	stop := start(p)
	defer stop()
	var wg sync.WaitGroup
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		wg.Add(1)
		p.Submit(context.Background(), int64(i%64), false, func(context.Context) { wg.Done() })
	}
	wg.Wait()
}
