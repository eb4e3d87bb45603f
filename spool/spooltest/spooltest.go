// Package spooltest provides Memory, a spool.Spool in memory for tests of
// code that runs with a spool: it keeps the contract (dedupe by update_id,
// per-chat order, redelivery of what was not done, one poll lease) but
// holds nothing across a process exit, so it is no spool for production.
// Several bots may share one Memory, as instances share a real spool; it
// then delivers every update to one consumer at a time, in stored order.
//
// It starts no goroutine: Consume runs on its caller's.
package spooltest

import (
	"context"
	"errors"
	"sync"

	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// Memory is an in-memory spool.Spool, spool.Leader and spool.Stater.
// The zero value is not usable; call New.
type Memory struct {
	mu      sync.Mutex
	entries []*entry // stored, in order; done entries are removed
	ids     map[int64]bool
	wake    chan struct{} // closed and replaced when entries change
	consume chan struct{} // holds a token while no Consume runs
	lease   chan struct{} // holds a token while the poll lease is free
	stats   spool.Stats
	puts    int64
}

type entry struct {
	u         *tg.Update
	inHand    bool // delivered, Done not yet called
	delivered bool // delivered at least once
}

// New returns an empty Memory.
func New() *Memory {
	m := &Memory{ids: map[int64]bool{}, wake: make(chan struct{}), lease: make(chan struct{}, 1), consume: make(chan struct{}, 1)}
	m.lease <- struct{}{}
	m.consume <- struct{}{}
	return m
}

// Put stores u unless an update with its id was stored before (ever:
// Memory's dedupe window is its life).
func (m *Memory) Put(ctx context.Context, u *tg.Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if u == nil || u.UpdateID <= 0 {
		return errors.New("spooltest: update without a positive update_id")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts++
	if m.ids[u.UpdateID] {
		return nil
	}
	m.ids[u.UpdateID] = true
	m.entries = append(m.entries, &entry{u: u})
	m.changed()
	return nil
}

// Puts returns how many times Put succeeded, duplicates included.
func (m *Memory) Puts() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts
}

// changed wakes the consumer; m.mu is held.
func (m *Memory) changed() {
	close(m.wake)
	m.wake = make(chan struct{})
}

// Consume delivers the stored updates that are neither done nor in hand,
// in stored order, until ctx is done. One Consume runs at a time; a second
// waits for the first to return. Updates left in hand by an earlier
// Consume (a crashed or stopped bot: Done never called, or called with
// false) are delivered again, flagged Redelivered.
func (m *Memory) Consume(ctx context.Context, deliver func(context.Context, *spool.Delivery) error) error {
	select {
	case <-m.consume:
	case <-ctx.Done():
		return nil
	}
	defer func() { m.consume <- struct{}{} }()
	m.mu.Lock()
	for _, e := range m.entries {
		e.inHand = false // whoever held it is gone
	}
	m.mu.Unlock()
	for {
		m.mu.Lock()
		var next *entry
		for _, e := range m.entries {
			if !e.inHand {
				next = e
				break
			}
		}
		wake := m.wake
		if next != nil {
			next.inHand = true
		}
		m.mu.Unlock()
		if next == nil {
			select {
			case <-wake:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		d := &spool.Delivery{Update: next.u, Redelivered: next.delivered}
		d.Done = m.doneFunc(next)
		if d.Redelivered {
			m.mu.Lock()
			m.stats.Redelivered++
			m.mu.Unlock()
		}
		if err := deliver(ctx, d); err != nil {
			m.mu.Lock()
			next.inHand = false
			m.mu.Unlock()
			return nil // stopping: not handed over
		}
		m.mu.Lock()
		next.delivered = true
		m.mu.Unlock()
	}
}

// doneFunc returns e's Done: handled removes it, not handled leaves it
// for the next Consume.
func (m *Memory) doneFunc(e *entry) func(bool) {
	var once sync.Once
	return func(handled bool) {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			e.delivered = true
			if !handled {
				return // stays in hand until the next Consume starts
			}
			for i, x := range m.entries {
				if x == e {
					m.entries = append(m.entries[:i], m.entries[i+1:]...)
					break
				}
			}
			m.changed()
		})
	}
}

// Lead blocks until the poll lease is free and takes it; held is done
// when release is called or ctx ends.
func (m *Memory) Lead(ctx context.Context) (context.Context, func(), error) {
	select {
	case <-m.lease:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	held, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	m.stats.Leading = true
	m.stats.LeaseChanges++
	m.mu.Unlock()
	var once sync.Once
	return held, func() {
		once.Do(func() {
			cancel()
			m.mu.Lock()
			m.stats.Leading = false
			m.stats.LeaseChanges++
			m.mu.Unlock()
			m.lease <- struct{}{}
		})
	}, nil
}

// Stats reports the entries not done as Depth.
func (m *Memory) Stats() spool.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Depth = int64(len(m.entries))
	return s
}

// Len returns the updates stored and not done.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
