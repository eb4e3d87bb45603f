// Package dispatch runs work on a fixed pool of workers fed by a bounded
// queue, keeping the order of work that shares a key.
//
// dispatch owns its workers and nothing else: it starts exactly Workers
// goroutines in Run and no goroutine per key or per task, and Run returns
// only after every worker has ended. Work with the same key (a chat) runs one
// at a time in submission order; work with different keys runs in parallel.
// The queue is bounded: Submit blocks (backpressure) while it is full. Idle
// per-key state is freed as soon as a key has no queued work.
//
// dispatch never drops work silently: work still queued when Run stops is
// handed to the Dropped callback, so its owner can leave it unconfirmed for
// redelivery.
package dispatch

import (
	"context"
	"errors"
	"sync"
)

// Task is one unit of work. It runs on a worker with the context the pool
// was started with (cancelled when the drain period ends).
type Task func(ctx context.Context)

// ErrClosed is returned by Submit once the pool no longer accepts work.
var ErrClosed = errors.New("dispatch: pool closed")

// Defaults of a Pool.
const (
	DefaultWorkers   = 16   // workers when Workers is 0
	DefaultQueueSize = 1024 // queued plus running tasks when QueueSize is 0
)

// Config configures a Pool. The zero value is usable.
type Config struct {
	// Workers is the number of goroutines that run tasks. Default 16.
	Workers int
	// QueueSize bounds the number of tasks queued or running at once;
	// Submit blocks while it is reached. Default 1024; at least Workers.
	QueueSize int
	// Wrap, if set, runs each worker's loop (a Task that returns when the
	// worker ends); tidygram uses it to attach pprof labels to workers.
	Wrap func(ctx context.Context, loop func(ctx context.Context))
	// Dropped, if set, receives every task still queued when the pool
	// stops without running it (after the drain period ran out).
	Dropped func(key int64, task Task)
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

// Pool is a fixed pool of workers with per-key ordered lanes.
// Create it with New, start it with Run, feed it with Submit.
type Pool struct {
	cfg   Config
	slots chan struct{} // one token per queued or running task
	ready chan *lane    // lanes with work and no worker; capacity QueueSize

	mu      sync.Mutex
	lanes   map[int64]*lane
	closed  bool
	stopped chan struct{} // closed when Run stops accepting work
	empty   chan struct{} // closed when the last task ends after stop
	freeLn  []*lane
	itemPl  sync.Pool
}

// New returns a Pool with cfg's defaults filled in. It starts no goroutine.
func New(cfg Config) *Pool {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.QueueSize < cfg.Workers {
		cfg.QueueSize = cfg.Workers
	}
	return &Pool{
		cfg:     cfg,
		slots:   make(chan struct{}, cfg.QueueSize),
		ready:   make(chan *lane, cfg.QueueSize),
		lanes:   make(map[int64]*lane),
		stopped: make(chan struct{}),
	}
}

// Workers returns the number of workers.
func (p *Pool) Workers() int { return p.cfg.Workers }

// Len returns the number of tasks queued or running.
func (p *Pool) Len() int { return len(p.slots) }

// Cap returns the queue bound (queued plus running tasks).
func (p *Pool) Cap() int { return cap(p.slots) }

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
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stopped:
		return ErrClosed
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
		p.ready <- l // never blocks: ready lanes ≤ queued tasks ≤ capacity
	}
	p.mu.Unlock()
	return nil
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

// pop takes the next task of l. Called by the worker that owns l.
func (p *Pool) pop(l *lane) Task {
	p.mu.Lock()
	it := l.head
	l.head = it.next
	if l.head == nil {
		l.tail = nil
	}
	l.n--
	p.mu.Unlock()
	t := it.task
	*it = item{}
	p.itemPl.Put(it)
	return t
}

// finish re-queues l if it has more work, or frees its state.
func (p *Pool) finish(l *lane) {
	p.mu.Lock()
	if l.n > 0 {
		p.ready <- l // to the back: fair between keys
	} else {
		p.forget(l)
		*l = lane{}
		if len(p.freeLn) < 256 {
			p.freeLn = append(p.freeLn, l)
		}
	}
	p.release()
	p.mu.Unlock()
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

// Run starts the workers and blocks until ctx is done and the queue is
// drained: once ctx is done Submit returns ErrClosed and the workers keep
// running queued tasks until none is left or drain is closed, whichever
// comes first. Tasks run with taskCtx, which the caller cancels to end
// running tasks (tidygram cancels it when its DrainTimeout runs out, and
// closes drain at the same moment). Tasks still queued then are not run:
// each goes to Config.Dropped. Run returns after every worker has ended.
func (p *Pool) Run(ctx, taskCtx context.Context, drain <-chan struct{}) {
	var wg sync.WaitGroup
	quit := make(chan struct{})
	for range p.cfg.Workers {
		wg.Go(func() {
			loop := func(c context.Context) { p.work(c, quit, drain) }
			if p.cfg.Wrap != nil {
				p.cfg.Wrap(taskCtx, loop)
			} else {
				loop(taskCtx)
			}
		})
	}
	<-ctx.Done()
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
		select {
		case <-empty:
		case <-drain:
		}
	}
	close(quit)
	wg.Wait()
	p.dropQueued()
}

func (p *Pool) work(taskCtx context.Context, quit, drain <-chan struct{}) {
	for {
		select {
		case l := <-p.ready:
			select {
			case <-drain: // drain period over: leave the lane queued
				p.ready <- l
				return
			default:
			}
			p.pop(l)(taskCtx)
			p.finish(l)
		case <-quit:
			return
		}
	}
}

// dropQueued hands every task left in the queue to Config.Dropped.
func (p *Pool) dropQueued() {
	for {
		select {
		case l := <-p.ready:
			for l.n > 0 {
				t := p.pop(l)
				if p.cfg.Dropped != nil {
					p.cfg.Dropped(l.key, t)
				}
				p.mu.Lock()
				p.release()
				p.mu.Unlock()
			}
			p.mu.Lock()
			p.forget(l)
			p.mu.Unlock()
		default:
			return
		}
	}
}
