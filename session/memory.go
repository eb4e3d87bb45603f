package session

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram/session/internal/storekit"
)

// Memory is the default Store: an in-memory map bounded in entries and
// in bytes, with per-entry TTL and LRU eviction.
//
// Guarantees: Len never exceeds the entry capacity (WithMaxEntries,
// default DefaultMaxEntries = 100,000) and Bytes, the length of every key
// and value held, never exceeds the byte capacity (WithMaxBytes, default
// DefaultMaxBytes = 64 MiB). When a Set would exceed the capacities of the
// key's shard (each shard has an equal share of both), that shard's least
// recently used entries (by Get or Set) are evicted first until it fits.
// A key longer than WithMaxKeyBytes (default 1 KiB) or a value larger
// than WithMaxValueBytes (default 1 MiB) is refused with a *SizeError
// (errors.Is ErrTooLarge), nothing evicted or stored; Get and Delete
// refuse such a key too. The heap a Memory holds is thus about Bytes plus
// some 150 bytes per entry: under 80 MiB with the defaults.
//
// Expired entries read as absent and are removed when they are read, when
// LRU eviction reaches them, or by Purge/Janitor; no goroutine is started
// per entry or by NewMemory. Values are copied in and out. Safe for
// concurrent use: keys are spread over WithShards shards, each with its
// own lock, so operations on different keys rarely contend.
type Memory struct {
	err      error // invalid options: returned by every operation
	clock    func() time.Time
	seed     maphash.Seed
	shards   []memShard
	maxKey   int
	maxValue int
	n        atomic.Int64
	bytes    atomic.Int64
}

type memShard struct {
	mu       sync.Mutex
	cap      int // entries
	maxBytes int
	bytes    int // len(key)+len(value) of every entry
	items    map[string]*memEntry
	head     memEntry // sentinel: head.next is the most recently used
}

type memEntry struct {
	key        string
	value      []byte
	exp        int64 // Unix ns; 0 never
	prev, next *memEntry
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store. It reads WithMaxEntries,
// WithMaxBytes, WithMaxKeyBytes, WithMaxValueBytes, WithShards and
// WithClock. Given an invalid option value (see OptionError), it returns
// a store that holds nothing and whose every operation returns that
// error, which Err reports at once: the error is never replaced by a
// default nor turned into a panic.
func NewMemory(opts ...StoreOption) *Memory {
	c := newStoreConfig(opts)
	if err := c.memoryErr(); err != nil {
		return &Memory{err: fmt.Errorf("session: memory store: %w", err)}
	}
	// Every shard must hold one entry at the limits: its share of the
	// byte capacity is at least the largest entry.
	shards := min(c.shards, c.maxEntries, c.maxBytes/(c.maxKeyBytes+c.maxValueBytes))
	m := &Memory{
		clock:    c.clock,
		seed:     maphash.MakeSeed(),
		shards:   make([]memShard, shards),
		maxKey:   c.maxKeyBytes,
		maxValue: c.maxValueBytes,
	}
	for i := range m.shards {
		s := &m.shards[i]
		// The capacities add up to maxEntries and maxBytes exactly.
		s.cap, s.maxBytes = share(c.maxEntries, shards, i), share(c.maxBytes, shards, i)
		s.items = make(map[string]*memEntry)
		s.head.next, s.head.prev = &s.head, &s.head
	}
	return m
}

// share returns shard i's part of total split over n shards.
func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

// Err returns the error of the options the store was built with, or nil.
// A store with an error holds nothing and every operation returns it.
func (m *Memory) Err() error { return m.err }

// check rejects an operation on a store built with invalid options, a
// done context, an empty key and a key over the limit.
func (m *Memory) check(ctx context.Context, key string) error {
	if m.err != nil {
		return m.err
	}
	if err := storekit.CheckOp(ctx, key); err != nil {
		return err
	}
	if len(key) > m.maxKey {
		return sizeError("key", key, len(key), m.maxKey)
	}
	return nil
}

func (m *Memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := m.check(ctx, key); err != nil {
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
	if storekit.Expired(e.exp, now) {
		m.remove(s, e)
		return nil, ErrNotFound
	}
	s.unlink(e)
	s.pushFront(e)
	return append([]byte(nil), e.value...), nil
}

// Set implements Store. A key or value over its limit is refused with a
// *SizeError before anything is copied, evicted or stored.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := m.check(ctx, key); err != nil {
		return err
	}
	if len(value) > m.maxValue {
		return sizeError("value", key, len(value), m.maxValue)
	}
	exp := storekit.Expiry(m.clock(), ttl)
	v := append(make([]byte, 0, len(value)), value...)
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[key]
	if ok {
		m.addBytes(s, len(v)-len(e.value))
		e.value, e.exp = v, exp
		s.unlink(e)
	} else {
		for len(s.items) >= s.cap {
			m.remove(s, s.head.prev)
		}
		e = &memEntry{key: key, value: v, exp: exp}
		s.items[key] = e
		m.n.Add(1)
		m.addBytes(s, len(key)+len(v))
	}
	s.pushFront(e)
	// e is at the front and fits a shard alone: only older entries go.
	for s.bytes > s.maxBytes {
		m.remove(s, s.head.prev)
	}
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := m.check(ctx, key); err != nil {
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
// included. It is at most the entry capacity.
func (m *Memory) Len() int { return int(m.n.Load()) }

// Bytes returns the length of every key and value held, expired ones not
// yet purged included. It is at most the byte capacity.
func (m *Memory) Bytes() int { return int(m.bytes.Load()) }

// Purge removes every expired entry and returns how many it removed. It
// locks one shard at a time and stops early, returning ctx.Err(), when
// ctx ends.
func (m *Memory) Purge(ctx context.Context) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
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
			if storekit.Expired(e.exp, now) {
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
// are removed when read or evicted. A store built with invalid options
// returns its error at once.
func (m *Memory) Janitor(ctx context.Context, every time.Duration) error {
	if m.err != nil {
		return m.err
	}
	return storekit.RunJanitor(ctx, every, DefaultJanitorInterval, m.Purge)
}

// remove unlinks e from s; s.mu is held.
func (m *Memory) remove(s *memShard, e *memEntry) {
	s.unlink(e)
	delete(s.items, e.key)
	m.n.Add(-1)
	m.addBytes(s, -len(e.key)-len(e.value))
}

// addBytes counts d more bytes held in s; s.mu is held.
func (m *Memory) addBytes(s *memShard, d int) {
	s.bytes += d
	m.bytes.Add(int64(d))
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
