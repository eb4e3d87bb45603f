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
}

type fifoItem struct {
	id int64
	e  *seenEntry
}

type seenEntry struct {
	at   time.Time
	done chan struct{} // closed when the handler ended
}

func newRecent(window time.Duration, capacity int) *recent {
	return &recent{window: window, cap: capacity, entries: make(map[int64]*seenEntry), now: time.Now}
}

// take returns (e, true) with a new entry for id when it is new; otherwise
// the entry of the earlier delivery and false.
func (r *recent) take(id int64) (*seenEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if e, ok := r.entries[id]; ok && now.Sub(e.at) < r.window {
		return e, false
	}
	r.evict(now)
	e := &seenEntry{at: now, done: make(chan struct{})}
	r.entries[id] = e
	r.fifo = append(r.fifo, fifoItem{id, e})
	return e, true
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
func (r *recent) evict(now time.Time) {
	for r.head < len(r.fifo) {
		it := r.fifo[r.head]
		if len(r.fifo)-r.head < r.cap && now.Sub(it.e.at) < r.window {
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
