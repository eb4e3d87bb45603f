// Package dispatch runs work on a pool of at most Workers workers fed by a
// bounded queue, keeping the order of work that shares a key, and
// supervises it.
//
// dispatch owns its workers and nothing else: workers start on demand, up
// to Workers, when work is queued and none is idle, and end after
// IdleTimeout without work, so an idle pool holds no worker; supervision
// runs on Run's own goroutine. It starts no goroutine per key or per task. Work with the same key (a chat)
// runs one at a time in submission order; work with different keys runs in
// parallel. The queue is bounded: Submit blocks (backpressure) while it is
// full. Idle per-key state is freed as soon as a key has no queued work.
//
// Timeout: each task's context ends at most Timeout after the task
// started. A worker's tasks that start within Timeout/64 of each other
// share one deadline context, and the timer behind it, rather than a timer
// each: a task gets at least Timeout - Timeout/64.
//
// Supervision: a task still running Deadline after it started is
// abandoned — the pool stops waiting for it (its key's next task may
// start, its queue slot is freed), replaces its worker so the pool keeps
// its size, and tells the task (Task.Abandon). A goroutine cannot be
// killed: the abandoned one runs on until it returns by itself, and then
// ends without touching the pool.
//
// dispatch never drops work silently: work still queued when Run stops is
// handed to Task.Drop, so its owner can leave it unconfirmed for
// redelivery; work still running after the stop grace is abandoned.
package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Task is one unit of work.
type Task interface {
	// Run does the work. ctx is the pool's task context: it is cancelled
	// when the drain period after a stop ends, and, with a Timeout, by
	// its deadline.
	Run(ctx context.Context)
	// Abandon is called at most once, instead of waiting for Run, when
	// Run has not returned Deadline after it started (stopping false), or
	// StopGrace after ctx was cancelled at the end of the drain period
	// (stopping true). Run may still return later; its return is then
	// ignored by the pool. When stopping is false Abandon runs on the
	// worker that replaces Run's, under the same Deadline, before the
	// key's next task starts. ctx is the task context (already cancelled
	// when stopping).
	Abandon(ctx context.Context, stopping bool)
	// Drop is called instead of Run when the pool stopped with the task
	// still queued (the drain period ran out first).
	Drop()
}

// Func adapts a function to a Task that ignores Abandon and Drop.
type Func func(ctx context.Context)

// Run calls f(ctx).
func (f Func) Run(ctx context.Context) { f(ctx) }

// Abandon does nothing.
func (Func) Abandon(context.Context, bool) {}

// Drop does nothing.
func (Func) Drop() {}

// ErrClosed is returned by Submit once the pool no longer accepts work.
var ErrClosed = errors.New("dispatch: pool closed")

// Defaults of a Pool.
const (
	DefaultWorkers   = 16                     // workers when Workers is 0
	DefaultQueueSize = 1024                   // queued plus running tasks when QueueSize is 0
	DefaultStopGrace = 500 * time.Millisecond // when StopGrace is 0
	DefaultIdle      = 10 * time.Second       // when IdleTimeout is 0
)

// Config configures a Pool. The zero value is usable: 16 workers, 1024
// tasks, no deadline, no drain period (Run returns as soon as running tasks
// ended their cancelled contexts or were abandoned). In every field zero
// means the default; a negative value, or a QueueSize below Workers, makes
// New fail with a *ConfigError (nothing is clamped).
type Config struct {
	// Workers is the most goroutines that run tasks at once. Default 16;
	// ≥ 0.
	Workers int
	// IdleTimeout is how long a worker waits for work before it ends
	// (a later Submit starts another). Default 10 s; ≥ 0.
	IdleTimeout time.Duration
	// QueueSize bounds the number of tasks queued or running at once;
	// Submit blocks while it is reached. Default 1024, or Workers when
	// that is more; when set, at least Workers.
	QueueSize int
	// Timeout, if positive, is the deadline of each task's context: at
	// most Timeout and at least Timeout - Timeout/64 after the task
	// started (see the package doc). Default 0: no deadline; ≥ 0.
	Timeout time.Duration
	// Deadline, if positive, is how long a task may run before it is
	// abandoned (see Task.Abandon). Supervision runs on Run's goroutine,
	// which wakes when the earliest running task reaches it (every
	// Deadline while none runs). Default 0: no deadline; ≥ 0.
	Deadline time.Duration
	// Drain is how long queued and running tasks may go on after Run's
	// context is done; then the task context is cancelled and what is
	// still queued is dropped. Default 0; ≥ 0.
	Drain time.Duration
	// StopGrace is how long tasks get to return after the task context is
	// cancelled at the end of the drain period before they are abandoned.
	// Default 500 ms; ≥ 0.
	StopGrace time.Duration
	// Wrap, if set, runs each worker's loop (a function that returns when
	// the worker ends); tidygram uses it to attach pprof labels.
	Wrap func(ctx context.Context, loop func(ctx context.Context))
}

type item struct {
	task Task
	next *item
}

// lane holds the queued tasks of one key; it is in the ready queue at most
// once, and only while it has tasks and no worker runs one of them.
type lane struct {
	key        int64
	head, tail *item
	n          int
	active     bool // a worker is running one of its tasks, or it is queued in ready
	unordered  bool
}

// worker is the state of one worker goroutine, read by the supervisor.
type worker struct {
	mu      sync.Mutex
	lane    *lane
	task    Task
	started time.Time     // when task started; zero while idle
	gone    bool          // abandoned: the goroutine no longer belongs to the pool
	wake    chan struct{} // capacity 1: work or quit, sent while it is idle

	// the deadline context its tasks share (Timeout); the worker's
	// goroutine alone uses these
	dctx    context.Context
	dcancel context.CancelFunc
	due     time.Time
}

// taskContext returns the context for a task of w starting at now: ctx
// without a Timeout, else a child of ctx ending at most Timeout and at
// least Timeout - Timeout/64 after now — the one the worker's previous
// task had while that holds, a new one otherwise.
func (p *Pool) taskContext(ctx context.Context, w *worker, now time.Time) context.Context {
	d := p.cfg.Timeout
	if d <= 0 {
		return ctx
	}
	if w.dctx == nil || w.due.Sub(now) < d-d/64 {
		if w.dcancel != nil {
			w.dcancel()
		}
		w.due = now.Add(d)
		w.dctx, w.dcancel = context.WithDeadline(ctx, w.due)
	}
	return w.dctx
}

// laneQueue is a FIFO of lanes; its memory follows the lanes waiting now.
type laneQueue struct {
	q    []*lane
	head int
}

func (q *laneQueue) len() int { return len(q.q) - q.head }

func (q *laneQueue) push(l *lane) { q.q = append(q.q, l) }

func (q *laneQueue) pop() *lane {
	if q.head == len(q.q) {
		return nil
	}
	l := q.q[q.head]
	q.q[q.head] = nil
	q.head++
	if q.head == len(q.q) {
		if cap(q.q) > 64 {
			q.q = nil // a burst is over: let its array go
		} else {
			q.q = q.q[:0]
		}
		q.head = 0
	}
	return l
}

// Pool is a fixed pool of workers with per-key ordered lanes.
// Create it with New, start it with Run, feed it with Submit.
type Pool struct {
	cfg   Config
	slots chan struct{} // one token per queued or running task

	mu       sync.Mutex
	lanes    map[int64]*lane
	ready    laneQueue // lanes with work and no worker
	idle     []*worker // workers waiting for work
	running  bool      // Run has started: workers may start
	closed   bool
	stopped  chan struct{} // closed when Run stops accepting work
	empty    chan struct{} // closed when the last task ends after stop
	freeLn   []*lane
	itemPl   sync.Pool
	workers  map[*worker]struct{}
	drained  bool // the drain period is over: lanes stay queued
	quitting bool
	none     chan struct{} // closed when the last worker ends after quit

	// set by Run before any worker starts
	ctx  context.Context // labels and values for workers
	tctx context.Context // task context

	abandoned atomic.Int64
	dropped   atomic.Int64
}

// ConfigError is New's error for a Config field it cannot use.
type ConfigError struct {
	Field  string // the Config field, e.g. "QueueSize"
	Value  any    // the value given
	Reason string // what it must be
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("dispatch: Config.%s %v: %s", e.Field, e.Value, e.Reason)
}

// check returns the first field of cfg New cannot use, as a *ConfigError.
func (cfg *Config) check() error {
	for _, f := range []struct {
		name     string
		value    any
		negative bool
	}{
		{"Workers", cfg.Workers, cfg.Workers < 0},
		{"QueueSize", cfg.QueueSize, cfg.QueueSize < 0},
		{"IdleTimeout", cfg.IdleTimeout, cfg.IdleTimeout < 0},
		{"Timeout", cfg.Timeout, cfg.Timeout < 0},
		{"Deadline", cfg.Deadline, cfg.Deadline < 0},
		{"Drain", cfg.Drain, cfg.Drain < 0},
		{"StopGrace", cfg.StopGrace, cfg.StopGrace < 0},
	} {
		if f.negative {
			return &ConfigError{Field: f.name, Value: f.value, Reason: "must not be negative (0: the default)"}
		}
	}
	if workers := cmp.Or(cfg.Workers, DefaultWorkers); cfg.QueueSize > 0 && cfg.QueueSize < workers {
		return &ConfigError{Field: "QueueSize", Value: cfg.QueueSize, Reason: fmt.Sprintf("is below the %d Workers: at least one slot per worker", workers)}
	}
	return nil
}

// New returns a Pool with cfg's defaults filled in. It starts no
// goroutine. A field New cannot use (see Config) is a *ConfigError.
func New(cfg Config) (*Pool, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = max(DefaultQueueSize, cfg.Workers)
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdle
	}
	return &Pool{
		cfg:     cfg,
		slots:   make(chan struct{}, cfg.QueueSize),
		lanes:   make(map[int64]*lane),
		stopped: make(chan struct{}),
		workers: make(map[*worker]struct{}),
	}, nil
}

// Workers returns the most workers the pool runs at once.
func (p *Pool) Workers() int { return p.cfg.Workers }

// Running returns the number of worker goroutines now (busy or idle).
func (p *Pool) Running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.workers)
}

// Len returns the number of tasks queued or running (abandoned tasks are
// not counted).
func (p *Pool) Len() int { return len(p.slots) }

// Cap returns the queue bound (queued plus running tasks).
func (p *Pool) Cap() int { return cap(p.slots) }

// Abandoned returns the number of tasks abandoned so far.
func (p *Pool) Abandoned() int64 { return p.abandoned.Load() }

// Dropped returns the number of queued tasks dropped at stop.
func (p *Pool) Dropped() int64 { return p.dropped.Load() }

// Keys returns the number of keys with queued or running work (lane state
// held in memory).
func (p *Pool) Keys() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lanes)
}

// Submit queues task under key; unordered tasks ignore key and may run in
// parallel with any other task.
// Submit blocks while the queue is full, until there is room, ctx is done
// (returns ctx.Err()) or the pool stops (returns ErrClosed).
func (p *Pool) Submit(ctx context.Context, key int64, unordered bool, task Task) error {
	select {
	case p.slots <- struct{}{}: // room: no wait to set up
	default:
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.stopped:
			return ErrClosed
		}
	}
	p.mu.Lock()
	if p.closed {
		p.release()
		p.mu.Unlock()
		return ErrClosed
	}
	var l *lane
	if unordered {
		l = p.newLane(key)
		l.unordered = true
	} else if l = p.lanes[key]; l == nil {
		l = p.newLane(key)
		p.lanes[key] = l
	}
	it, _ := p.itemPl.Get().(*item)
	if it == nil {
		it = new(item)
	}
	it.task = task
	if l.tail == nil {
		l.head = it
	} else {
		l.tail.next = it
	}
	l.tail = it
	l.n++
	if !l.active {
		l.active = true
		p.ready.push(l)
		p.dispatchLocked()
	}
	p.mu.Unlock()
	return nil
}

// dispatchLocked gets a worker for a lane just made ready: an idle one is
// woken, else a new one starts if fewer than Workers run; p.mu is held.
func (p *Pool) dispatchLocked() {
	if !p.running || p.quitting || p.drained {
		return
	}
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		w.wake <- struct{}{} // never blocks: an idle worker's channel is empty
		return
	}
	if len(p.workers) < p.cfg.Workers {
		p.goWorker(p.addWorkerLocked(), nil)
	}
}

func (p *Pool) newLane(key int64) *lane {
	if n := len(p.freeLn); n > 0 {
		l := p.freeLn[n-1]
		p.freeLn = p.freeLn[:n-1]
		l.key = key
		return l
	}
	return &lane{key: key}
}

// popLocked takes the next task of l, for the worker that owns l; p.mu
// is held.
func (p *Pool) popLocked(l *lane) Task {
	it := l.head
	l.head = it.next
	if l.head == nil {
		l.tail = nil
	}
	l.n--
	t := it.task
	*it = item{}
	p.itemPl.Put(it)
	return t
}

// finish re-queues l if it has more work, for a worker to take, or frees
// its state, and frees the finished task's queue slot.
func (p *Pool) finish(l *lane) {
	p.mu.Lock()
	p.finishLocked(l, true)
	p.mu.Unlock()
}

// finishLocked is finish with p.mu held; wake is false when the calling
// worker goes on to take a ready lane itself, so none other is woken for
// l (it would find nothing left to do).
func (p *Pool) finishLocked(l *lane, wake bool) {
	if l.n > 0 {
		p.ready.push(l) // to the back: fair between keys
		if wake {
			p.dispatchLocked()
		}
	} else {
		p.forget(l)
		*l = lane{}
		if len(p.freeLn) < 256 {
			p.freeLn = append(p.freeLn, l)
		}
	}
	p.release()
}

// forget drops l's entry in the key map (unordered lanes have none, and
// must not remove the ordered lane of their key); p.mu is held.
func (p *Pool) forget(l *lane) {
	l.active = false
	if !l.unordered && p.lanes[l.key] == l {
		delete(p.lanes, l.key)
	}
}

// release frees one queue slot; p.mu is held.
func (p *Pool) release() {
	<-p.slots
	if p.empty != nil && len(p.slots) == 0 {
		close(p.empty)
		p.empty = nil
	}
}

// Run starts the pool and blocks until ctx is done and the pool has
// stopped. Workers start as work is submitted (work queued before Run
// starts when Run does). Once ctx is done, Submit returns ErrClosed and the
// workers go on with queued tasks until none is left or Drain has passed,
// whichever comes first. Then the task context is cancelled, running tasks
// get StopGrace to return and are abandoned if they do not
// (Task.Abandon(true)), and tasks still queued are dropped (Task.Drop). Run
// returns after every worker that was not abandoned has ended: at most
// Drain + StopGrace after ctx is done, whatever the tasks do. Tasks run
// with a context that carries ctx's values but is cancelled only at the
// end of the drain period. Run supervises the running tasks (Deadline) on
// its own goroutine.
func (p *Pool) Run(ctx context.Context) {
	tctx, cancelTasks := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTasks()
	p.mu.Lock()
	p.ctx, p.tctx, p.running = ctx, tctx, true
	for range min(p.ready.len(), p.cfg.Workers) {
		p.goWorker(p.addWorkerLocked(), nil)
	}
	p.mu.Unlock()
	sup := &supervisor{p: p}
	if p.cfg.Deadline > 0 {
		sup.t = time.NewTimer(p.cfg.Deadline)
		defer sup.t.Stop()
	}
	sup.wait(ctx.Done(), nil)

	p.mu.Lock()
	p.closed = true
	close(p.stopped)
	var empty chan struct{}
	if len(p.slots) > 0 {
		empty = make(chan struct{})
		p.empty = empty
	}
	p.mu.Unlock()
	if empty != nil {
		t := time.NewTimer(p.cfg.Drain)
		if !sup.wait(empty, t.C) {
			p.mu.Lock()
			p.drained = true // workers leave lanes queued from now on
			p.mu.Unlock()
			cancelTasks()
		}
		t.Stop()
	}
	p.mu.Lock()
	p.quitting = true
	for _, w := range p.idle {
		w.wake <- struct{}{}
	}
	p.idle = nil
	none := make(chan struct{})
	if len(p.workers) == 0 {
		close(none)
	} else {
		p.none = none
	}
	p.mu.Unlock()
	grace := time.NewTimer(p.cfg.StopGrace)
	defer grace.Stop()
	if !sup.wait(none, grace.C) {
		cancelTasks()
		p.abandonAll()
	}
	p.dropQueued()
}

// addWorkerLocked registers a new worker (its goroutine not started yet);
// p.mu is held.
func (p *Pool) addWorkerLocked() *worker {
	w := &worker{wake: make(chan struct{}, 1)}
	p.workers[w] = struct{}{}
	return w
}

// goWorker runs w's goroutine; w is already among p.workers.
func (p *Pool) goWorker(w *worker, first Task) {
	go func() {
		loop := func(context.Context) { p.work(w, first) }
		if p.cfg.Wrap != nil {
			p.cfg.Wrap(p.ctx, loop)
		} else {
			loop(p.ctx)
		}
		p.exit(w)
	}()
}

// exit removes w from the pool when its goroutine ends, unless it was
// abandoned (then the pool removed it already).
func (p *Pool) exit(w *worker) {
	w.mu.Lock()
	gone := w.gone
	w.mu.Unlock()
	if !gone {
		p.remove(w)
	}
}

// remove forgets w; the last worker to go after quit closes p.none.
func (p *Pool) remove(w *worker) {
	p.mu.Lock()
	delete(p.workers, w)
	if p.none != nil && len(p.workers) == 0 {
		close(p.none)
		p.none = nil
	}
	p.mu.Unlock()
}

func (p *Pool) work(w *worker, first Task) {
	// The worker's own child of the task context: the context each task
	// derives (a handler's timeout) registers with it, not with one context
	// shared by every worker, whose lock they would contend for.
	ctx, cancel := context.WithCancel(p.tctx)
	defer cancel() // and the deadline context derived from it
	if first != nil && !p.runTask(ctx, w, nil, first) {
		return
	}
	var idle *time.Timer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	var ran *lane // whose task the worker has just run: finished here
	for {
		p.mu.Lock()
		if ran != nil {
			p.finishLocked(ran, false) // in the lock that takes the next lane
			ran = nil
		}
		if p.quitting || p.drained {
			p.mu.Unlock()
			return // at the end of the drain period queued lanes stay queued
		}
		if l := p.ready.pop(); l != nil {
			t := p.popLocked(l)
			p.mu.Unlock()
			if !p.runTask(ctx, w, l, t) {
				return
			}
			ran = l
			continue
		}
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		if idle == nil {
			idle = time.NewTimer(p.cfg.IdleTimeout)
		} else {
			idle.Reset(p.cfg.IdleTimeout)
		}
		select {
		case <-w.wake:
			idle.Stop()
		case <-idle.C:
			p.mu.Lock()
			if i := slices.Index(p.idle, w); i >= 0 {
				p.idle = slices.Delete(p.idle, i, i+1)
				p.mu.Unlock()
				return // idle for IdleTimeout: the worker ends
			}
			p.mu.Unlock()
			<-w.wake // claimed meanwhile: the wake was sent before p.mu was free
		}
	}
}

// runTask runs t for lane l (nil: an abandonment report) under
// supervision; false if it was abandoned meanwhile (the goroutine must
// end). The caller finishes l when it returns true.
func (p *Pool) runTask(ctx context.Context, w *worker, l *lane, t Task) bool {
	now := time.Now()
	w.mu.Lock()
	w.lane, w.task, w.started = l, t, now
	w.mu.Unlock()
	t.Run(p.taskContext(ctx, w, now))
	w.mu.Lock()
	gone := w.gone
	w.lane, w.task, w.started = nil, nil, time.Time{}
	w.mu.Unlock()
	return !gone
}

// supervisor abandons the tasks that run past the deadline while Run
// waits; its timer (nil without a Deadline) fires when the earliest
// running task reaches it.
type supervisor struct {
	p *Pool
	t *time.Timer
}

// wait waits for done (true) or limit (false), supervising meanwhile.
func (s *supervisor) wait(done <-chan struct{}, limit <-chan time.Time) bool {
	var tc <-chan time.Time
	if s.t != nil {
		tc = s.t.C
	}
	for {
		select {
		case <-done:
			return true
		case <-limit:
			return false
		case <-tc:
			s.t.Reset(s.p.check(time.Now()))
		}
	}
}

// check abandons the overdue tasks and returns how long until the next
// one can be due.
func (p *Pool) check(now time.Time) time.Duration {
	next := p.cfg.Deadline
	for _, w := range p.snapshot() {
		w.mu.Lock()
		if w.task == nil || w.gone {
			w.mu.Unlock()
			continue
		}
		if left := p.cfg.Deadline - now.Sub(w.started); left > 0 {
			next = min(next, left)
			w.mu.Unlock()
			continue
		}
		p.abandon(w, false)
	}
	return max(next, time.Millisecond)
}

// abandonAll abandons every task still running at stop.
func (p *Pool) abandonAll() {
	for _, w := range p.snapshot() {
		w.mu.Lock()
		if w.task == nil || w.gone {
			w.mu.Unlock()
			continue
		}
		p.abandon(w, true)
	}
}

func (p *Pool) snapshot() []*worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := make([]*worker, 0, len(p.workers))
	for w := range p.workers {
		ws = append(ws, w)
	}
	return ws
}

// abandon gives up on w's task; w.mu is held and released here. Unless
// the pool is stopping, a new worker takes w's place and first reports the
// task abandoned (Task.Abandon), then lets its key go on.
func (p *Pool) abandon(w *worker, stopping bool) {
	w.gone = true
	l, t := w.lane, w.task
	w.mu.Unlock()
	p.remove(w)
	p.abandoned.Add(1)
	var next *worker
	p.mu.Lock()
	if !p.quitting && !stopping {
		next = p.addWorkerLocked()
	}
	p.mu.Unlock()
	var first Task
	switch {
	case l == nil:
		// An abandonment report that itself overran: its key goes on.
		t.Abandon(p.tctx, stopping)
	case next != nil:
		first = &afterAbandon{p: p, l: l, t: t}
	default:
		t.Abandon(p.tctx, true)
		p.finish(l)
	}
	if next != nil {
		p.goWorker(next, first)
	}
}

// afterAbandon runs on the replacement worker: it reports the abandoned
// task, then lets its key go on (once, even if the report itself overruns
// and is abandoned).
type afterAbandon struct {
	p    *Pool
	l    *lane
	t    Task
	once sync.Once
}

func (a *afterAbandon) Run(ctx context.Context) {
	a.t.Abandon(ctx, false)
	a.next()
}

func (a *afterAbandon) Abandon(context.Context, bool) { a.next() }
func (a *afterAbandon) Drop()                         {}
func (a *afterAbandon) next()                         { a.once.Do(func() { a.p.finish(a.l) }) }

// dropQueued hands every task left in the queue to Task.Drop.
func (p *Pool) dropQueued() {
	for {
		p.mu.Lock()
		l := p.ready.pop()
		p.mu.Unlock()
		if l == nil {
			return
		}
		for {
			p.mu.Lock()
			if l.n == 0 {
				p.mu.Unlock()
				break
			}
			t := p.popLocked(l)
			p.mu.Unlock()
			t.Drop()
			p.dropped.Add(1)
			p.mu.Lock()
			p.release()
			p.mu.Unlock()
		}
		p.mu.Lock()
		p.forget(l)
		p.mu.Unlock()
	}
}
