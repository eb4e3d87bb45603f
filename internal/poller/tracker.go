package poller

import (
	"slices"
	"sync"
)

// tracker keeps the poller's watermark: the lowest update_id that is not
// yet handled. Telegram confirms every update below the offset of a
// getUpdates call, so polling with offset = watermark confirms only handled
// updates, and a crash redelivers every unfinished one.
//
// Ids at or above the watermark are either in flight (queued or running) or
// done (handled, but a lower id is still in flight); a redelivered id in
// either is skipped. They are kept in one slice in id order, which holds
// at most one poll's limit of ids, because getUpdates returns at most
// limit updates from the offset on: taking an id (Telegram's come in
// order) appends it, finishing one marks it, and the done ids at the
// front are dropped as the watermark passes them. Every operation is
// O(log limit) or amortised O(1), but taking an id below one already held
// (never in Telegram's order), which inserts in O(limit); nothing is
// allocated per update once the slice has grown to the window.
type tracker struct {
	mu       sync.Mutex
	ids      []entry       // ids at or above the watermark, ascending, from head
	head     int           // ids[:head] are dropped
	inflight int           // entries not done
	maxSeen  int64         // highest id taken; 0 before the first
	progress chan struct{} // closed and replaced when room reaches want
	want     int           // free slots of limit the waiter needs; 0: nobody waits
	limit    int
	moved    chan struct{} // always closed: "already there"
	idle     chan struct{} // closed when the last id in flight finishes; nil when nobody waits
}

// entry is one id at or above the watermark.
type entry struct {
	id   int64
	done bool
}

func newTracker() *tracker {
	t := &tracker{progress: make(chan struct{}), moved: make(chan struct{})}
	close(t.moved)
	return t
}

// find returns the index in t.ids of id (ok) or where it would go.
func (t *tracker) find(id int64) (int, bool) {
	live := t.ids[t.head:]
	i, ok := slices.BinarySearchFunc(live, id, func(e entry, id int64) int {
		switch {
		case e.id < id:
			return -1
		case e.id > id:
			return 1
		}
		return 0
	})
	return t.head + i, ok
}

// take marks id in flight; false if it is already in flight or done.
func (t *tracker) take(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.maxSeen != 0 && id < t.watermarkLocked() {
		return false // confirmed earlier: handled
	}
	if id > t.maxSeen || len(t.ids) == t.head { // in order: the common case
		t.compact()
		t.ids = append(t.ids, entry{id: id})
	} else {
		i, ok := t.find(id)
		if ok {
			return false
		}
		t.ids = slices.Insert(t.ids, i, entry{id: id})
	}
	t.inflight++
	t.maxSeen = max(t.maxSeen, id)
	return true
}

// compact moves the live ids to the front of the slice once the dropped
// ones are the larger part, so that it stays within twice the window.
func (t *tracker) compact() {
	if t.head > 0 && t.head >= len(t.ids)-t.head {
		n := copy(t.ids, t.ids[t.head:])
		clear(t.ids[n:])
		t.ids, t.head = t.ids[:n], 0
	}
}

// known reports whether id is in flight or handled (take would refuse it).
func (t *tracker) known(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.maxSeen != 0 && id < t.watermarkLocked() {
		return true
	}
	_, ok := t.find(id)
	return ok
}

// finish marks id handled. An id taken but never handled (not queued, or
// dropped at stop) is simply never finished: it stays in flight for the
// rest of the run, so the watermark never passes it and Telegram
// redelivers it on the next start.
func (t *tracker) finish(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.find(id)
	if !ok || t.ids[i].done {
		return
	}
	t.ids[i].done = true
	t.inflight--
	for t.head < len(t.ids) && t.ids[t.head].done { // the watermark moves on
		t.head++
	}
	if t.head == len(t.ids) {
		t.ids, t.head = t.ids[:0], 0
	}
	if t.idle != nil && t.inflight == 0 {
		close(t.idle)
		t.idle = nil
	}
	if t.want > 0 && t.limit-(len(t.ids)-t.head) >= t.want {
		close(t.progress)
		t.progress = make(chan struct{})
		t.want = 0
	}
}

// watermark returns the offset that confirms exactly the handled updates:
// the lowest id in flight, or one above the highest id seen; 0 before any
// update was seen (no offset: start at the earliest unconfirmed update).
func (t *tracker) watermark() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.watermarkLocked()
}

func (t *tracker) watermarkLocked() int64 {
	if t.head < len(t.ids) {
		return t.ids[t.head].id // done ones at the front are dropped at once
	}
	if t.maxSeen == 0 {
		return 0
	}
	return t.maxSeen + 1
}

// next returns one above the highest id seen (the at-most-once offset).
func (t *tracker) next() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.maxSeen == 0 {
		return 0
	}
	return t.maxSeen + 1
}

// waitRoom returns nil when at least free of the limit updates a poll can
// return (from the watermark on) are not yet taken, else a channel closed
// once they are. A poll returns the taken ones again while they are
// unconfirmed: waiting for room keeps the share of updates fetched twice
// low. The waiter is woken once, when the room is there, not at every
// update that finishes before.
func (t *tracker) waitRoom(limit, free int) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if limit-(len(t.ids)-t.head) >= free {
		return nil
	}
	t.limit, t.want = limit, max(free, 1)
	return t.progress
}

// waitIdle returns a channel closed once no id is in flight (at once if
// none is).
func (t *tracker) waitIdle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inflight == 0 {
		return t.moved
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	return t.idle
}

// inFlight returns the number of ids in flight.
func (t *tracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inflight
}
