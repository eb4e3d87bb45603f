package limit

import (
	"context"
	"sync"

	"github.com/tidygram/tidygram/tg"
)

// lanes keeps calls to one chat in order: one call per chat at a time,
// the others queued first in, first out. A lane exists only while a call
// holds or waits for it, so the map never holds idle chats.
type lanes struct {
	mu sync.Mutex
	m  map[tg.ChatID]*lane
}

type lane struct {
	queue []*laneWaiter // waiting, in arrival order
}

type laneWaiter struct {
	ready   chan struct{} // closed when the lane is handed over
	granted bool          // set with ready's close, under lanes.mu
	gone    bool          // gave up (ctx ended) before being granted
}

// acquire blocks until the caller holds chat's lane or ctx ends. On
// success the caller must call release exactly once.
func (ls *lanes) acquire(ctx context.Context, chat tg.ChatID) (release func(), err error) {
	release = func() { ls.release(chat) }
	ls.mu.Lock()
	if ls.m == nil {
		ls.m = make(map[tg.ChatID]*lane)
	}
	ln, busy := ls.m[chat]
	if !busy {
		ls.m[chat] = &lane{}
		ls.mu.Unlock()
		return release, nil
	}
	w := &laneWaiter{ready: make(chan struct{})}
	ln.queue = append(ln.queue, w)
	ls.mu.Unlock()

	select {
	case <-w.ready:
		return release, nil
	case <-ctx.Done():
		ls.mu.Lock()
		if w.granted { // handed over just now: pass it on
			ls.mu.Unlock()
			ls.release(chat)
			return nil, ctx.Err()
		}
		w.gone = true
		ls.mu.Unlock()
		return nil, ctx.Err()
	}
}

// release hands chat's lane to the next waiter still waiting, or removes
// the lane.
func (ls *lanes) release(chat tg.ChatID) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ln := ls.m[chat]
	for len(ln.queue) > 0 {
		w := ln.queue[0]
		ln.queue[0] = nil
		ln.queue = ln.queue[1:]
		if !w.gone {
			w.granted = true
			close(w.ready)
			return
		}
	}
	delete(ls.m, chat)
}

// len returns the number of lanes held.
func (ls *lanes) len() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.m)
}
