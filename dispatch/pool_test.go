package dispatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
	"github.com/tidygram/tidygram/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs p until the returned stop is called; stop returns after Run.
func start(p *Pool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	return func() {
		cancel()
		<-done
	}
}

// submit queues f as a Func task.
func submit(ctx context.Context, p *Pool, key int64, unordered bool, f func(context.Context)) error {
	return p.Submit(ctx, key, unordered, Func(f))
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
			p := opterrtest.Must(New(Config{Workers: tt.workers, QueueSize: tt.queue}))
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
					err := submit(context.Background(), p, key, false, func(context.Context) {
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
	p := opterrtest.Must(New(Config{Workers: 4}))
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
		submit(context.Background(), p, int64(k), false, func(context.Context) {
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
	p := opterrtest.Must(New(Config{Workers: 1, QueueSize: 2}))
	stop := start(p)
	defer stop()
	release := make(chan struct{})
	for range 2 {
		if err := submit(context.Background(), p, 1, false, func(context.Context) { <-release }); err != nil {
			t.Fatal(err)
		}
	}
	if p.Len() != 2 {
		t.Fatalf("Len = %d, want 2", p.Len())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := submit(ctx, p, 2, false, func(context.Context) {})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full queue = %v, want DeadlineExceeded", err)
	}
	close(release)
}

func TestDrainRunsQueuedWork(t *testing.T) {
	p := opterrtest.Must(New(Config{Workers: 2, QueueSize: 100, Drain: time.Minute}))
	var ran atomic.Int32
	stop := start(p)
	for i := range 100 {
		submit(context.Background(), p, int64(i%3), false, func(context.Context) {
			time.Sleep(100 * time.Microsecond)
			ran.Add(1)
		})
	}
	stop()
	if n := ran.Load(); n != 100 {
		t.Fatalf("%d of 100 queued tasks ran before Run returned", n)
	}
	if err := submit(context.Background(), p, 1, false, func(context.Context) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after stop = %v, want ErrClosed", err)
	}
}

// task records what the pool did with it.
type task struct {
	run       func(ctx context.Context)
	abandoned chan bool // receives stopping, once
	dropped   *atomic.Int32
}

func newTask(run func(context.Context), dropped *atomic.Int32) *task {
	return &task{run: run, abandoned: make(chan bool, 1), dropped: dropped}
}

func (t *task) Run(ctx context.Context)                  { t.run(ctx) }
func (t *task) Abandon(_ context.Context, stopping bool) { t.abandoned <- stopping } // a second call would block: the test fails by deadline
func (t *task) Drop()                                    { t.dropped.Add(1) }

func TestDrainTimeoutDropsQueued(t *testing.T) {
	var dropped atomic.Int32
	p := opterrtest.Must(New(Config{Workers: 1, QueueSize: 10, Drain: 50 * time.Millisecond}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	started := make(chan struct{})
	var sawCancel atomic.Bool
	first := newTask(func(c context.Context) {
		close(started)
		<-c.Done()
		sawCancel.Store(true)
	}, &dropped)
	p.Submit(context.Background(), 1, false, first)
	for range 5 {
		p.Submit(context.Background(), 1, false, newTask(func(context.Context) { t.Error("task ran after the drain period") }, &dropped))
	}
	<-started
	cancel() // the drain period ends: tasks are cancelled and the queue is dropped
	<-done
	if !sawCancel.Load() {
		t.Fatal("running task did not see its context cancelled")
	}
	if n := dropped.Load(); n != 5 {
		t.Fatalf("Drop called for %d tasks, want 5", n)
	}
	if n := p.Dropped(); n != 5 {
		t.Fatalf("Dropped() = %d, want 5", n)
	}
	if n := p.Keys(); n != 0 {
		t.Fatalf("%d lanes left after stop", n)
	}
	if len(first.abandoned) != 0 || p.Abandoned() != 0 {
		t.Fatal("a task that returned on cancel was abandoned")
	}
}

// TestStuckTaskIsAbandoned: a task that ignores its context is abandoned
// after the deadline; its key goes on in order, the pool keeps its size,
// and other keys never wait for it.
func TestStuckTaskIsAbandoned(t *testing.T) {
	const workers = 2
	p := opterrtest.Must(New(Config{Workers: workers, QueueSize: 64, Deadline: 100 * time.Millisecond, Drain: time.Second}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	release := make(chan struct{}) // the stuck tasks end only at the test's end
	var dropped atomic.Int32
	var stuck []*task
	for k := range workers { // every worker gets stuck once
		s := newTask(func(context.Context) { <-release }, &dropped)
		stuck = append(stuck, s)
		p.Submit(context.Background(), int64(k), false, s)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		submit(context.Background(), p, int64(i%workers), false, func(context.Context) {
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			wg.Done()
		})
	}
	waitOrFail(t, &wg, 10*time.Second, "tasks queued behind stuck tasks did not run")
	for i, s := range stuck {
		select {
		case stopping := <-s.abandoned:
			if stopping {
				t.Fatalf("stuck task %d abandoned as stopping, want deadline", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stuck task %d was not abandoned", i)
		}
	}
	last := map[int]int{}
	for _, v := range order {
		if prev, ok := last[v%workers]; ok && prev > v {
			t.Fatalf("key %d: task %d ran after %d", v%workers, v, prev)
		}
		last[v%workers] = v
	}
	if n := p.Abandoned(); n != workers {
		t.Fatalf("Abandoned() = %d, want %d", n, workers)
	}
	// The pool still has all its workers: as many tasks as workers run
	// at once.
	var arrived sync.WaitGroup
	arrived.Add(workers)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	var both sync.WaitGroup
	for k := range workers {
		both.Add(1)
		submit(context.Background(), p, int64(100+k), false, func(context.Context) {
			defer both.Done()
			arrived.Done()
			<-all
		})
	}
	waitOrFail(t, &both, 10*time.Second, "replacement workers missing: tasks of different keys did not run at once")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return with abandoned tasks still running")
	}
	close(release)
}

// TestStopAbandonsTasksIgnoringCancel: Run returns within Drain +
// StopGrace (plus scheduling) even when a task ignores its context; the
// task is abandoned as stopping.
func TestStopAbandonsTasksIgnoringCancel(t *testing.T) {
	p := opterrtest.Must(New(Config{Workers: 1, Drain: 20 * time.Millisecond, StopGrace: 20 * time.Millisecond}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	release := make(chan struct{})
	defer close(release)
	var dropped atomic.Int32
	started := make(chan struct{})
	s := newTask(func(context.Context) { close(started); <-release }, &dropped)
	p.Submit(context.Background(), 1, false, s)
	queued := newTask(func(context.Context) { t.Error("queued task ran") }, &dropped)
	p.Submit(context.Background(), 1, false, queued)
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return while a task ignored its cancelled context")
	}
	select {
	case stopping := <-s.abandoned:
		if !stopping {
			t.Fatal("abandoned at stop, but stopping = false")
		}
	default:
		t.Fatal("task ignoring cancel was not abandoned")
	}
	if dropped.Load() != 1 {
		t.Fatalf("queued task dropped %d times, want 1", dropped.Load())
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, d time.Duration, msg string) {
	t.Helper()
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	select {
	case <-c:
	case <-time.After(d):
		t.Fatal(msg)
	}
}

func TestUnorderedRunsInParallel(t *testing.T) {
	p := opterrtest.Must(New(Config{Workers: 2}))
	stop := start(p)
	defer stop()
	var arrived sync.WaitGroup
	arrived.Add(2)
	ok := make(chan bool, 2)
	for range 2 {
		submit(context.Background(), p, 0, true, func(context.Context) {
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
	p := opterrtest.Must(New(Config{Workers: 4, QueueSize: 1024}))
	stop := start(p)
	defer stop()
	var wg sync.WaitGroup
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		wg.Add(1)
		submit(context.Background(), p, int64(i%64), false, func(context.Context) { wg.Done() })
	}
	wg.Wait()
}

// deafTask ignores its context in Run and blocks in Abandon too (an error
// handler that hangs on the abandonment report).
type deafTask struct{ release <-chan struct{} }

func (d deafTask) Run(context.Context)           { <-d.release }
func (d deafTask) Abandon(context.Context, bool) { <-d.release }
func (deafTask) Drop()                           {}

// TestHangingAbandonReportIsAbandonedToo: the abandonment report runs
// under the same deadline; when it hangs as well, it is abandoned in turn,
// the key goes on and the pool keeps its size.
func TestHangingAbandonReportIsAbandonedToo(t *testing.T) {
	p := opterrtest.Must(New(Config{Workers: 1, QueueSize: 8, Deadline: 50 * time.Millisecond, Drain: time.Second}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	release := make(chan struct{})
	p.Submit(context.Background(), 1, false, deafTask{release})
	ran := make(chan struct{})
	submit(context.Background(), p, 1, false, func(context.Context) { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the key's next task did not run after a hanging task and a hanging report")
	}
	if n := p.Abandoned(); n != 2 {
		t.Fatalf("Abandoned() = %d, want 2 (the task and its report)", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	close(release)
}

// An idle pool holds no worker: workers start as work comes, at most
// Workers of them, and end after IdleTimeout without work; work submitted
// later starts them again.
func TestWorkersStartOnDemandAndEndWhenIdle(t *testing.T) {
	p := opterrtest.Must(New(Config{Workers: 4, IdleTimeout: 20 * time.Millisecond}))
	stop := start(p)
	defer stop()
	if n := p.Running(); n != 0 {
		t.Fatalf("%d workers before any work, want 0", n)
	}
	for round := range 2 {
		release := make(chan struct{})
		var started sync.WaitGroup
		started.Add(4)
		for k := range 10 {
			if err := submit(context.Background(), p, int64(k), false, func(context.Context) {
				if k < 4 {
					started.Done()
				}
				<-release
			}); err != nil {
				t.Fatal(err)
			}
		}
		waitOrFail(t, &started, 10*time.Second, "4 keys running at once")
		if n := p.Running(); n != 4 {
			t.Fatalf("round %d: %d workers for 10 keys, want Workers (4)", round, n)
		}
		close(release)
		if !wait.For(10*time.Second, func() bool { return p.Running() == 0 && p.Len() == 0 }) {
			t.Fatalf("round %d: %d workers and %d tasks left 10 s after the work ended", round, p.Running(), p.Len())
		}
	}
}

// TestTaskTimeout: with a Timeout every task's context ends at most
// Timeout and at least Timeout - Timeout/64 after the task started; a
// worker's tasks started close together share one deadline; a task that
// starts after the shared deadline passed (the previous task ran into it)
// gets a fresh one, not a context already done; without a Timeout tasks
// get no deadline.
func TestTaskTimeout(t *testing.T) {
	const n = 50
	tests := []struct {
		name    string
		timeout time.Duration
		first   func(ctx context.Context) // the first task's work
		shared  bool                      // all n tasks have one deadline
	}{
		{"long timeout: one deadline", time.Hour, func(context.Context) {}, true},
		// a second: each later task starts with at least 984 ms left, far
		// beyond a stall between its start and its check, even under -race
		{"after the deadline: a new one", time.Second, func(ctx context.Context) { <-ctx.Done() }, false},
		{"no timeout", 0, func(context.Context) {}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := opterrtest.Must(New(Config{Workers: 1, Timeout: tt.timeout}))
			stop := start(p)
			defer stop()
			type seen struct {
				deadline    time.Time
				has         bool
				before, now time.Time // before Submit; when the task ran
				err, after  error     // ctx.Err() when it ran; after first's work
			}
			got := make([]seen, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				before := time.Now()
				submit(context.Background(), p, 1, false, func(ctx context.Context) {
					defer wg.Done()
					s := &got[i]
					s.before, s.now, s.err = before, time.Now(), ctx.Err()
					s.deadline, s.has = ctx.Deadline()
					if i == 0 {
						tt.first(ctx)
						s.after = ctx.Err()
					}
				})
			}
			waitOrFail(t, &wg, 10*time.Second, "tasks did not run")
			deadlines := map[time.Time]bool{}
			for i, s := range got {
				if s.has != (tt.timeout > 0) {
					t.Fatalf("task %d: has deadline %v, want %v", i, s.has, tt.timeout > 0)
				}
				if s.err != nil {
					t.Fatalf("task %d started with its context done: %v", i, s.err)
				}
				if !s.has {
					continue
				}
				if lo, hi := s.before.Add(tt.timeout-tt.timeout/64), s.now.Add(tt.timeout); s.deadline.Before(lo) || s.deadline.After(hi) {
					t.Fatalf("task %d: deadline %v after Submit, %v after it ran; want at most %v, at least %v",
						i, s.deadline.Sub(s.before), s.deadline.Sub(s.now), tt.timeout, tt.timeout-tt.timeout/64)
				}
				deadlines[s.deadline] = true
			}
			if tt.timeout > 0 && tt.shared != (len(deadlines) == 1) {
				t.Fatalf("%d distinct deadlines over %d tasks; want one: %v", len(deadlines), n, tt.shared)
			}
			if tt.timeout > 0 && !tt.shared && !errors.Is(got[0].after, context.DeadlineExceeded) {
				t.Fatalf("first task's context after its deadline: %v, want %v", got[0].after, context.DeadlineExceeded)
			}
		})
	}
}
