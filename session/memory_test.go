package session

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestMemoryLRU(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		cap      int
		ops      []string // "s:k" set, "g:k" get
		present  []string
		evicted  []string
		wantSize int
	}{
		{"oldest evicted", 2, []string{"s:a", "s:b", "s:c"}, []string{"b", "c"}, []string{"a"}, 2},
		{"get refreshes", 2, []string{"s:a", "s:b", "g:a", "s:c"}, []string{"a", "c"}, []string{"b"}, 2},
		{"set refreshes", 2, []string{"s:a", "s:b", "s:a", "s:c"}, []string{"a", "c"}, []string{"b"}, 2},
		{"overwrite does not evict", 2, []string{"s:a", "s:b", "s:b", "s:b"}, []string{"a", "b"}, nil, 2},
		{"cap one", 1, []string{"s:a", "s:b"}, []string{"b"}, []string{"a"}, 1},
		{"order of three", 3, []string{"s:a", "s:b", "s:c", "g:a", "g:b", "s:d", "s:e"}, []string{"b", "d", "e"}, []string{"a", "c"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory(WithMaxEntries(tt.cap), WithShards(1))
			for _, op := range tt.ops {
				k := op[2:]
				if op[0] == 's' {
					if err := m.Set(ctx, k, []byte(k), 0); err != nil {
						t.Fatal(err)
					}
				} else if _, err := m.Get(ctx, k); err != nil {
					t.Fatalf("get %s: %v", k, err)
				}
			}
			if m.Len() != tt.wantSize {
				t.Fatalf("Len = %d, want %d", m.Len(), tt.wantSize)
			}
			for _, k := range tt.evicted {
				if _, err := m.Get(ctx, k); !errors.Is(err, ErrNotFound) {
					t.Errorf("%s: err = %v, want evicted", k, err)
				}
			}
			for _, k := range tt.present {
				if v, err := m.Get(ctx, k); err != nil || string(v) != k {
					t.Errorf("%s: = %q, %v; want present", k, v, err)
				}
			}
		})
	}
}

func TestMemoryCapacitySplit(t *testing.T) {
	// Shard capacities add up to the cap exactly, for any shard count.
	for _, tc := range []struct{ max, shards int }{{1, 16}, {7, 3}, {100, 16}, {100_000, 16}, {5, 5}} {
		t.Run(fmt.Sprintf("%d/%d", tc.max, tc.shards), func(t *testing.T) {
			m := NewMemory(WithMaxEntries(tc.max), WithShards(tc.shards))
			sum, bytes := 0, 0
			for i := range m.shards {
				if m.shards[i].cap < 1 {
					t.Fatalf("shard %d has capacity %d", i, m.shards[i].cap)
				}
				if m.shards[i].maxBytes < DefaultMaxKeyBytes+DefaultMaxValueBytes {
					t.Fatalf("shard %d holds %d bytes: not one entry at the limits", i, m.shards[i].maxBytes)
				}
				sum += m.shards[i].cap
				bytes += m.shards[i].maxBytes
			}
			if sum != tc.max || bytes != DefaultMaxBytes {
				t.Fatalf("capacities add up to %d entries, %d bytes; want %d, %d", sum, bytes, tc.max, DefaultMaxBytes)
			}
		})
	}
}

// TestMemoryBoundedUnderMillionKeys inserts 1,000,000 distinct keys into
// a default store: Len never exceeds the cap, and the heap holds about
// the cap's worth of entries, far less than a million would need.
func TestMemoryBoundedUnderMillionKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 1,000,000 keys")
	}
	ctx := context.Background()
	const (
		total = 1_000_000
		batch = 10_000
		value = 64
	)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	m := NewMemory()
	v := make([]byte, value)
	buf := make([]byte, 0, 32)
	for i := 0; i < total; i += batch {
		for j := i; j < i+batch; j++ {
			buf = strconv.AppendInt(buf[:0], int64(j), 10)
			if err := m.Set(ctx, string(buf), v, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if n := m.Len(); n > DefaultMaxEntries {
			t.Fatalf("after %d keys Len = %d > cap %d", i+batch, n, DefaultMaxEntries)
		}
	}
	if n := m.Len(); n != DefaultMaxEntries {
		t.Fatalf("Len = %d, want the cap %d", n, DefaultMaxEntries)
	}
	grown := int64(heap()) - int64(before)
	// A million entries need at least their million values: 64 MB, and
	// about 230 MB in fact (entry, map slot, key). The cap's 100,000 need
	// about a tenth of that.
	limit := int64(total * value)
	t.Logf("heap grew by %.1f MB for %d held entries (limit %.1f MB)", float64(grown)/1e6, m.Len(), float64(limit)/1e6)
	if grown > limit {
		t.Fatalf("heap grew by %d bytes, want < %d", grown, limit)
	}
	runtime.KeepAlive(m)
}

func TestMemoryConcurrent(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(WithMaxEntries(500))
	const workers, ops = 8, 2000
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range ops {
				k := key(w*ops + i%700) // more keys than the cap: evictions run too
				if err := m.Set(ctx, k, []byte(k), time.Hour); err != nil {
					errs <- err
					return
				}
				if v, err := m.Get(ctx, k); err == nil && string(v) != k {
					errs <- fmt.Errorf("Get(%s) = %s", k, v)
					return
				}
				if i%10 == 0 {
					_ = m.Delete(ctx, k)
				}
				if n := m.Len(); n > 500 {
					errs <- fmt.Errorf("Len = %d > 500", n)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if _, err := m.Purge(ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Len agrees with the shards' maps.
	n := 0
	for i := range m.shards {
		n += len(m.shards[i].items)
	}
	if n != m.Len() {
		t.Fatalf("Len = %d, maps hold %d", m.Len(), n)
	}
}

func TestMemoryExpiredEntriesEvictedFirstByLRU(t *testing.T) {
	// An expired entry still counts until removed; eviction reaches it like
	// any other, and Get removes it at once.
	ctx := context.Background()
	clock := newFakeClock()
	m := NewMemory(WithMaxEntries(3), WithShards(1), WithClock(clock.Now))
	_ = m.Set(ctx, "a", []byte("a"), time.Minute)
	_ = m.Set(ctx, "b", []byte("b"), 0)
	clock.Advance(time.Minute)
	if m.Len() != 2 {
		t.Fatalf("Len = %d, want 2 before lazy removal", m.Len())
	}
	if _, err := m.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired a: %v", err)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d, want 1 after reading an expired entry", m.Len())
	}
}

func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	const keys = 50_000
	names := make([]string, keys)
	for i := range names {
		names[i] = key(i)
	}
	v := make([]byte, 128)
	b.Run("Set", func(b *testing.B) {
		m := NewMemory()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = m.Set(ctx, names[i%keys], v, time.Hour)
			i++
		}
	})
	b.Run("Get", func(b *testing.B) {
		m := NewMemory()
		for _, k := range names {
			_ = m.Set(ctx, k, v, time.Hour)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _ = m.Get(ctx, names[i%keys])
			i++
		}
	})
	b.Run("GetSetParallel", func(b *testing.B) {
		m := NewMemory()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				k := names[i%keys]
				if i%4 == 0 {
					_ = m.Set(ctx, k, v, time.Hour)
				} else {
					_, _ = m.Get(ctx, k)
				}
				i++
			}
		})
	})
}
