package poller

import "sync"

// tracker keeps the poller's watermark: the lowest update_id that is not
// yet handled. Telegram confirms every update below the offset of a
// getUpdates call, so polling with offset = watermark confirms only handled
// updates, and a crash redelivers every unfinished one.
//
// Ids at or above the watermark are either in flight (queued or running) or
// done (handled, but a lower id is still in flight); a redelivered id in
// either set is skipped. Both sets hold at most one poll's limit of ids
// beyond the watermark, because getUpdates returns at most limit updates
// from the offset on.
type tracker struct {
	mu       sync.Mutex
	inflight map[int64]struct{}
	done     map[int64]struct{}
	maxSeen  int64 // highest id taken; 0 before the first
	low      int64 // cached min(inflight), valid when lowOK
	lowOK    bool
	progress chan struct{} // closed and replaced when an update finishes
	waiting  bool          // someone holds progress
	moved    chan struct{} // always closed: "already there"
	idle     chan struct{} // closed when the last id in flight finishes; nil when nobody waits
}

func newTracker() *tracker {
	t := &tracker{
		inflight: make(map[int64]struct{}),
		done:     make(map[int64]struct{}),
		progress: make(chan struct{}),
		moved:    make(chan struct{}),
	}
	close(t.moved)
	return t
}

// take marks id in flight; false if it is already in flight or done.
func (t *tracker) take(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.inflight[id]; ok {
		return false
	}
	if _, ok := t.done[id]; ok {
		return false
	}
	if t.maxSeen != 0 && id < t.watermarkLocked() {
		return false // confirmed earlier: handled
	}
	t.inflight[id] = struct{}{}
	if id > t.maxSeen {
		t.maxSeen = id
	}
	if t.lowOK && id < t.low {
		t.low = id
	}
	return true
}

// known reports whether id is in flight or handled (take would refuse it).
func (t *tracker) known(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.inflight[id]; ok {
		return true
	}
	if _, ok := t.done[id]; ok {
		return true
	}
	return t.maxSeen != 0 && id < t.watermarkLocked()
}

// finish marks id handled. An id taken but never handled (not queued, or
// dropped at stop) is simply never finished: it stays in flight for the
// rest of the run, so the watermark never passes it and Telegram
// redelivers it on the next start.
func (t *tracker) finish(id int64) {
	t.mu.Lock()
	delete(t.inflight, id)
	t.done[id] = struct{}{}
	if t.lowOK && id == t.low {
		t.lowOK = false
	}
	// Prune done ids the watermark has passed.
	if w := t.watermarkLocked(); len(t.done) > 0 {
		for d := range t.done {
			if d < w {
				delete(t.done, d)
			}
		}
	}
	if t.idle != nil && len(t.inflight) == 0 {
		close(t.idle)
		t.idle = nil
	}
	if t.waiting {
		close(t.progress)
		t.progress = make(chan struct{})
		t.waiting = false
	}
	t.mu.Unlock()
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
	if len(t.inflight) == 0 {
		if t.maxSeen == 0 {
			return 0
		}
		return t.maxSeen + 1
	}
	if !t.lowOK {
		first := true
		for id := range t.inflight {
			if first || id < t.low {
				t.low, first = id, false
			}
		}
		t.lowOK = true
	}
	return t.low
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
// when an update next finishes. A poll returns the taken ones again while
// they are unconfirmed: waiting for room keeps the share of updates fetched
// twice low.
func (t *tracker) waitRoom(limit, free int) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if limit-len(t.inflight)-len(t.done) >= free {
		return nil
	}
	t.waiting = true
	return t.progress
}

// waitIdle returns a channel closed once no id is in flight (at once if
// none is).
func (t *tracker) waitIdle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.inflight) == 0 {
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
	return len(t.inflight)
}
