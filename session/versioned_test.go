package session_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/session"
)

// versionedMap is a Versioned store in a map, as a shared store behaves.
type versionedMap struct {
	mu   sync.Mutex
	vals map[string][]byte
	vers map[string]uint64
	next uint64
}

func newVersionedMap() *versionedMap {
	return &versionedMap{vals: map[string][]byte{}, vers: map[string]uint64{}}
}

func (m *versionedMap) Get(ctx context.Context, key string) ([]byte, error) {
	v, _, err := m.GetVersion(ctx, key)
	return v, err
}

func (m *versionedMap) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	m.vals[key], m.vers[key] = append([]byte(nil), value...), m.next
	return nil
}

func (m *versionedMap) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.vals, key)
	delete(m.vers, key)
	return nil
}

func (m *versionedMap) GetVersion(_ context.Context, key string) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key]
	if !ok {
		return nil, 0, session.ErrNotFound
	}
	return append([]byte(nil), v...), m.vers[key], nil
}

func (m *versionedMap) SetIf(_ context.Context, key string, value []byte, _ time.Duration, version uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vers[key] != version {
		return 0, session.ErrConflict
	}
	m.next++
	m.vals[key], m.vers[key] = append([]byte(nil), value...), m.next
	return m.next, nil
}

func (m *versionedMap) DeleteIf(_ context.Context, key string, version uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vers[key] != version {
		return session.ErrConflict
	}
	delete(m.vals, key)
	delete(m.vers, key)
	return nil
}

// Two writers that loaded the same version: the first commit wins, the
// second gets ErrConflict and writes nothing; a scope that commits twice
// keeps its own version.
func TestVersionedStoreRefusesALostUpdate(t *testing.T) {
	ctx := context.Background()
	store := newVersionedMap()
	s := session.New[int](store)
	for _, tc := range []struct {
		name  string
		clear bool
	}{{"write", false}, {"delete", true}} {
		t.Run(tc.name, func(t *testing.T) {
			key := "k-" + tc.name
			if err := s.Save(ctx, key, 1); err != nil {
				t.Fatal(err)
			}
			a, err := s.Open(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Open(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			*a.Value() = 2
			if err := a.Commit(ctx); err != nil {
				t.Fatalf("first commit: %v", err)
			}
			*a.Value() = 3
			if err := a.Commit(ctx); err != nil {
				t.Fatalf("second commit of the same scope: %v", err)
			}
			if tc.clear {
				b.Clear()
			} else {
				*b.Value() = 9
			}
			if err := b.Commit(ctx); !errors.Is(err, session.ErrConflict) {
				t.Fatalf("stale commit = %v, want ErrConflict", err)
			}
			if v, err := s.Load(ctx, key); err != nil || v != 3 {
				t.Fatalf("value after the refused commit = %d, %v; want 3", v, err)
			}
		})
	}
}
