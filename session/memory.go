package session

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Memory is the default Store: an in-memory map bounded in entries, with
// per-entry TTL and LRU eviction.
//
// Guarantees: Len never exceeds the capacity (WithMaxEntries, default
// DefaultMaxEntries); when a Set of a new key would exceed the capacity of
// the key's shard, that shard's least recently used entry (by Get or Set)
// is evicted first. Expired entries read as absent and are removed when
// they are read, when LRU eviction reaches them, or by Purge/Janitor; no
// goroutine is started per entry or by NewMemory. Values are copied in and
// out. Safe for concurrent use: keys are spread over WithShards shards,
// each with its own lock, so operations on different keys rarely contend.
type Memory struct {
	clock  func() time.Time
	seed   maphash.Seed
	shards []memShard
	n      atomic.Int64
}

type memShard struct {
	mu    sync.Mutex
	cap   int
	items map[string]*memEntry
	head  memEntry // sentinel: head.next is the most recently used
}

type memEntry struct {
	key        string
	value      []byte
	exp        int64 // Unix ns; 0 never
	prev, next *memEntry
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store. It reads WithMaxEntries,
// WithShards and WithClock.
func NewMemory(opts ...StoreOption) *Memory {
	c := newStoreConfig(opts)
	shards := min(c.shards, c.maxEntries)
	m := &Memory{clock: c.clock, seed: maphash.MakeSeed(), shards: make([]memShard, shards)}
	for i := range m.shards {
		s := &m.shards[i]
		// The capacities add up to maxEntries exactly.
		s.cap = c.maxEntries / shards
		if i < c.maxEntries%shards {
			s.cap++
		}
		s.items = make(map[string]*memEntry)
		s.head.next, s.head.prev = &s.head, &s.head
	}
	return m
}

func (m *Memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkOp(ctx, key); err != nil {
		return nil, err
	}
	now := m.clock()
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if !ok {
		return nil, ErrNotFound
	}
	if expired(e.exp, now) {
		m.remove(s, e)
		return nil, ErrNotFound
	}
	s.unlink(e)
	s.pushFront(e)
	return append([]byte(nil), e.value...), nil
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkOp(ctx, key); err != nil {
		return err
	}
	exp := expiry(m.clock(), ttl)
	v := append(make([]byte, 0, len(value)), value...)
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.items[key]; ok {
		e.value, e.exp = v, exp
		s.unlink(e)
		s.pushFront(e)
		return nil
	}
	for len(s.items) >= s.cap {
		m.remove(s, s.head.prev)
	}
	e := &memEntry{key: key, value: v, exp: exp}
	s.items[key] = e
	s.pushFront(e)
	m.n.Add(1)
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := checkOp(ctx, key); err != nil {
		return err
	}
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.items[key]; ok {
		m.remove(s, e)
	}
	return nil
}

// Len returns the number of entries held, expired ones not yet purged
// included. It is at most the capacity.
func (m *Memory) Len() int { return int(m.n.Load()) }

// Purge removes every expired entry and returns how many it removed. It
// locks one shard at a time and stops early, returning ctx.Err(), when
// ctx ends.
func (m *Memory) Purge(ctx context.Context) (int, error) {
	removed := 0
	for i := range m.shards {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		now := m.clock()
		s := &m.shards[i]
		s.mu.Lock()
		for e := s.head.next; e != &s.head; {
			next := e.next
			if expired(e.exp, now) {
				m.remove(s, e)
				removed++
			}
			e = next
		}
		s.mu.Unlock()
	}
	return removed, nil
}

// Janitor calls Purge every interval (DefaultJanitorInterval if every
// <= 0) until ctx ends, then returns nil. It runs in the caller's
// goroutine: the owner (the bot's Run) starts it and ends it with ctx.
// Without a Janitor, expired entries are still never returned, and they
// are removed when read or evicted.
func (m *Memory) Janitor(ctx context.Context, every time.Duration) error {
	return runJanitor(ctx, every, m.Purge)
}

// remove unlinks e from s; s.mu is held.
func (m *Memory) remove(s *memShard, e *memEntry) {
	s.unlink(e)
	delete(s.items, e.key)
	m.n.Add(-1)
}

func (s *memShard) unlink(e *memEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *memShard) pushFront(e *memEntry) {
	e.prev, e.next = &s.head, s.head.next
	s.head.next.prev = e
	s.head.next = e
}
