package session

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// heapInuse returns the heap in use after a full collection.
func heapInuse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// TestMemoryBoundedInBytes stores 2,000 values of 1 MiB each (2 GiB in
// all) under distinct keys in a default store: the heap it holds never
// grows past the byte bound (64 MiB) and a little for the entries and the
// GC's slack. The heap is checked every 50 values, so a store without a
// byte bound fails within about 100 MiB, not after 2 GiB.
func TestMemoryBoundedInBytes(t *testing.T) {
	ctx := context.Background()
	const (
		n     = 2000
		value = 1 << 20
		bound = 64 << 20 // DefaultMaxBytes
		slack = 16 << 20
		every = 50
	)
	if DefaultMaxBytes != bound || DefaultMaxValueBytes != value {
		t.Fatalf("defaults changed: update the test")
	}
	v := []byte(strings.Repeat("x", value))
	before := heapInuse()
	m := NewMemory()
	maxGrown := int64(0)
	for i := range n {
		if err := m.Set(ctx, fmt.Sprint("k", i), v, 0); err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		if b := m.Bytes(); b > bound {
			t.Fatalf("after %d values Bytes = %d > %d", i+1, b, bound)
		}
		if i%every == every-1 || i == n-1 {
			grown := heapInuse() - before
			maxGrown = max(maxGrown, grown)
			if grown > bound+slack {
				t.Fatalf("after %d values of 1 MiB the heap grew by %d MiB, want at most %d MiB", i+1, grown>>20, (bound+slack)>>20)
			}
		}
	}
	t.Logf("%d values of 1 MiB: %d held (%.1f MiB), heap grew by at most %.1f MiB", n, m.Len(), float64(m.Bytes())/(1<<20), float64(maxGrown)/(1<<20))
	// The most recent values are the ones held.
	if got, err := m.Get(ctx, fmt.Sprint("k", n-1)); err != nil || len(got) != value {
		t.Fatalf("last value: %d bytes, %v", len(got), err)
	}
	if _, err := m.Get(ctx, "k0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("first value: %v, want evicted", err)
	}
	runtime.KeepAlive(m)
}

// TestMemoryRefusesOversized: a key over the key limit and a value over
// the value limit are refused with a *SizeError, and nothing is stored or
// evicted.
func TestMemoryRefusesOversized(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		opts       []StoreOption
		key        string
		value      int
		what       string
		size, lim  int
		alsoGetDel bool // the key alone is refused: Get and Delete too
	}{
		{"10 MiB key", nil, strings.Repeat("k", 10<<20), 1, "key", 10 << 20, DefaultMaxKeyBytes, true},
		{"key one over", nil, strings.Repeat("k", DefaultMaxKeyBytes+1), 1, "key", DefaultMaxKeyBytes + 1, DefaultMaxKeyBytes, true},
		{"value one over", nil, "k", DefaultMaxValueBytes + 1, "value", DefaultMaxValueBytes + 1, DefaultMaxValueBytes, false},
		{"64 MiB value", nil, "k", 64 << 20, "value", 64 << 20, DefaultMaxValueBytes, false},
		{"custom key limit", []StoreOption{WithMaxKeyBytes(8)}, "123456789", 1, "key", 9, 8, true},
		{"custom value limit", []StoreOption{WithMaxValueBytes(10)}, "k", 11, "value", 11, 10, false},
		{"value limit derived from a small store", []StoreOption{WithMaxBytes(2000), WithMaxKeyBytes(100)}, "k", 1901, "value", 1901, 1900, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory(tt.opts...)
			if err := m.Err(); err != nil {
				t.Fatal(err)
			}
			if err := m.Set(ctx, "other", []byte("kept"), 0); err != nil {
				t.Fatal(err)
			}
			before := m.Bytes()
			err := m.Set(ctx, tt.key, make([]byte, tt.value), 0)
			var se *SizeError
			if !errors.Is(err, ErrTooLarge) || !errors.As(err, &se) {
				t.Fatalf("Set = %v, want a *SizeError", err)
			}
			if se.What != tt.what || se.Size != tt.size || se.Limit != tt.lim || len(se.Key) > 64 {
				t.Fatalf("SizeError = %+v (key of %d bytes), want %s of %d over %d", *se, len(se.Key), tt.what, tt.size, tt.lim)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error message of %d bytes: %.200s…", len(err.Error()), err)
			}
			if m.Len() != 1 || m.Bytes() != before {
				t.Fatalf("Len = %d, Bytes = %d after a refused Set; want 1, %d", m.Len(), m.Bytes(), before)
			}
			if v, err := m.Get(ctx, "other"); err != nil || string(v) != "kept" {
				t.Fatalf("other entry: %q, %v", v, err)
			}
			if tt.alsoGetDel {
				if _, err := m.Get(ctx, tt.key); !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Get = %v, want ErrTooLarge", err)
				}
				if err := m.Delete(ctx, tt.key); !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Delete = %v, want ErrTooLarge", err)
				}
			}
		})
	}
}

// TestMemoryByteEviction: with one shard, values are evicted least
// recently used first until a new or grown value fits the byte capacity;
// the value just set is never the one evicted.
func TestMemoryByteEviction(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(WithShards(1), WithMaxBytes(100), WithMaxKeyBytes(1), WithMaxValueBytes(60))
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	set := func(k string, n int) {
		t.Helper()
		if err := m.Set(ctx, k, make([]byte, n), 0); err != nil {
			t.Fatal(err)
		}
		if m.Bytes() > 100 {
			t.Fatalf("after Set(%s, %d) Bytes = %d > 100", k, n, m.Bytes())
		}
	}
	held := func(want ...string) {
		t.Helper()
		for _, k := range []string{"a", "b", "c", "d"} {
			_, err := m.Get(ctx, k)
			if got, w := err == nil, strings.Contains(strings.Join(want, ""), k); got != w {
				t.Fatalf("%s held = %v, want %v (Bytes %d)", k, got, w, m.Bytes())
			}
		}
	}
	set("a", 29) // 30 bytes with the key
	set("b", 29)
	set("c", 29) // 90
	held("a", "b", "c")
	set("d", 29) // 120 > 100: a (least recently read: held read a, b, c in order) goes
	held("b", "c", "d")
	set("d", 60) // grows to 61: 30+30+61 > 100, b goes
	held("c", "d")
	if m.Len() != 2 || m.Bytes() != 91 {
		t.Fatalf("Len = %d, Bytes = %d; want 2, 91", m.Len(), m.Bytes())
	}
	set("d", 0) // shrinks: nothing goes
	held("c", "d")
	if m.Bytes() != 31 {
		t.Fatalf("Bytes = %d, want 31", m.Bytes())
	}
	if err := m.Delete(ctx, "c"); err != nil || m.Bytes() != 1 {
		t.Fatalf("after Delete: Bytes = %d, %v", m.Bytes(), err)
	}
}

// TestMemoryOptionErrors: invalid option values are errors, never clamped
// to a default: Err reports an *OptionError, every operation returns it,
// and nothing panics.
func TestMemoryOptionErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		opts   []StoreOption
		option string
	}{
		{"zero entries", []StoreOption{WithMaxEntries(0)}, "WithMaxEntries"},
		{"negative entries", []StoreOption{WithMaxEntries(-5)}, "WithMaxEntries"},
		{"zero bytes", []StoreOption{WithMaxBytes(0)}, "WithMaxBytes"},
		{"bytes not above the key limit", []StoreOption{WithMaxBytes(DefaultMaxKeyBytes)}, "WithMaxBytes"},
		{"zero key limit", []StoreOption{WithMaxKeyBytes(0)}, "WithMaxKeyBytes"},
		{"negative value limit", []StoreOption{WithMaxValueBytes(-1)}, "WithMaxValueBytes"},
		{"value limit over the capacity", []StoreOption{WithMaxBytes(1 << 20), WithMaxValueBytes(1 << 20)}, "WithMaxValueBytes"},
		{"zero shards", []StoreOption{WithShards(0)}, "WithShards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory(tt.opts...)
			var oe *OptionError
			if err := m.Err(); !errors.As(err, &oe) || oe.Option != tt.option {
				t.Fatalf("Err = %v, want an *OptionError for %s", err, tt.option)
			}
			if err := m.Set(ctx, "k", []byte("v"), 0); !errors.As(err, &oe) {
				t.Fatalf("Set = %v, want the option error", err)
			}
			if _, err := m.Get(ctx, "k"); !errors.As(err, &oe) {
				t.Fatalf("Get = %v, want the option error", err)
			}
			if err := m.Delete(ctx, "k"); !errors.As(err, &oe) {
				t.Fatalf("Delete = %v, want the option error", err)
			}
			if _, err := m.Purge(ctx); !errors.As(err, &oe) {
				t.Fatalf("Purge = %v, want the option error", err)
			}
			if err := m.Janitor(ctx, time.Hour); !errors.As(err, &oe) {
				t.Fatalf("Janitor = %v, want the option error at once", err)
			}
			if m.Len() != 0 || m.Bytes() != 0 {
				t.Fatalf("Len %d, Bytes %d", m.Len(), m.Bytes())
			}
		})
	}
	// Valid edge values are accepted as given.
	m := NewMemory(WithMaxEntries(1), WithShards(1000), WithMaxBytes(2), WithMaxKeyBytes(1), WithMaxValueBytes(1))
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "k", []byte("v"), 0); err != nil || m.Bytes() != 2 || len(m.shards) != 1 {
		t.Fatalf("Set = %v, Bytes %d, %d shards", err, m.Bytes(), len(m.shards))
	}
}
