package webhook

import (
	"sync"
	"time"
)

// recent remembers the update_ids a webhook has taken, for a time window
// and up to a capacity, so a redelivered update is handled once: a
// redelivery of an update still in flight waits for it, one of a handled
// update is answered at once. Oldest entries are forgotten first. Telegram
// ids restart at random after a week of silence, so the window is kept
// short (default 10 minutes).
type recent struct {
	mu      sync.Mutex
	window  time.Duration
	cap     int
	entries map[int64]*seenEntry
	fifo    []fifoItem // insertion order; fifo[head:] are live
	head    int
	now     func() time.Time
	base    time.Time // entries' times count from here
}

type fifoItem struct {
	id int64
	e  *seenEntry
}

// seenEntry is one remembered delivery: 24 bytes, the wait channel made
// only for a redelivery that arrives while the handler runs (rare). With
// the map and the FIFO, an id costs about 67 bytes of heap (187 with a
// channel for every entry): 100,000 ids about 6.7 MB
// (BenchmarkRecentMemory).
type seenEntry struct {
	at   int64         // when it was taken, nanoseconds on r's clock since r.base
	done bool          // the handler ended (guarded by recent.mu)
	wait chan struct{} // closed when the handler ended; nil until a redelivery waits
}

func newRecent(window time.Duration, capacity int) *recent {
	return &recent{window: window, cap: capacity, entries: make(map[int64]*seenEntry), now: time.Now}
}

// clock returns the time on r's clock, in nanoseconds since its first
// reading (monotonic with time.Now).
func (r *recent) clock() int64 {
	now := r.now()
	if r.base.IsZero() {
		r.base = now
	}
	return int64(now.Sub(r.base))
}

// take returns (e, true) with a new entry for id when it is new; otherwise
// the entry of the earlier delivery and false.
func (r *recent) take(id int64) (*seenEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock()
	if e, ok := r.entries[id]; ok && now-e.at < int64(r.window) {
		return e, false
	}
	r.evict(now)
	e := &seenEntry{at: now}
	r.entries[id] = e
	r.fifo = append(r.fifo, fifoItem{id, e})
	return e, true
}

// finish marks e's handler ended: redeliveries waiting for it are
// answered, later ones at once.
func (r *recent) finish(e *seenEntry) {
	r.mu.Lock()
	e.done = true
	if e.wait != nil {
		close(e.wait)
	}
	r.mu.Unlock()
}

// ended returns a channel closed once e's handler ended (already closed
// when it has).
func (r *recent) ended(e *seenEntry) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.wait == nil {
		e.wait = make(chan struct{})
		if e.done {
			close(e.wait)
		}
	}
	return e.wait
}

// forget removes id (its handler never ran: a redelivery must run it).
func (r *recent) forget(id int64, e *seenEntry) {
	r.mu.Lock()
	if r.entries[id] == e {
		delete(r.entries, id)
	}
	r.mu.Unlock()
}

// evict drops entries that expired or exceed the capacity, oldest first.
func (r *recent) evict(now int64) {
	for r.head < len(r.fifo) {
		it := r.fifo[r.head]
		if len(r.fifo)-r.head < r.cap && now-it.e.at < int64(r.window) {
			break
		}
		if r.entries[it.id] == it.e {
			delete(r.entries, it.id)
		}
		r.fifo[r.head] = fifoItem{}
		r.head++
	}
	if r.head > len(r.fifo)/2 && r.head > 64 {
		r.fifo = append(r.fifo[:0], r.fifo[r.head:]...)
		r.head = 0
	}
}

// len returns the number of remembered ids.
func (r *recent) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}
