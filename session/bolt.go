package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bolt is a file-backed Store on bbolt (go.etcd.io/bbolt), for bots that
// must keep sessions across restarts on one machine.
//
// Each value is stored with its expiry; expired values read as absent and
// are removed when read or by Purge/Janitor. Every Set and Delete is one
// bbolt transaction written to disk (fsync) before it returns. The file is
// locked by one process at a time; OpenBolt waits at most WithOpenTimeout
// for the lock. Bolt has no entry cap: its size is bounded by TTLs. Safe
// for concurrent use (bbolt serialises writers). No goroutine is started.
type Bolt struct {
	db     *bolt.DB
	bucket []byte
	clock  func() time.Time
}

var _ Store = (*Bolt)(nil)

// boltHeader is the length of the expiry that prefixes every value.
const boltHeader = 8

// purgeBatch is how many keys one Purge transaction scans, so that the
// write lock is never held for a whole large bucket.
const purgeBatch = 1000

// OpenBolt opens or creates the bbolt file at path (mode 0600) and its
// bucket. It reads WithBucket, WithOpenTimeout and WithClock; an invalid
// option value (any store option's) is returned as an *OptionError. The
// caller must Close it.
func OpenBolt(path string, opts ...StoreOption) (*Bolt, error) {
	c := newStoreConfig(opts)
	if err := c.err(); err != nil {
		return nil, fmt.Errorf("session: open bolt store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: c.openTimeout})
	if err != nil {
		return nil, fmt.Errorf("session: open bolt store %s: %w", path, err)
	}
	b := &Bolt{db: db, bucket: []byte(c.bucket), clock: c.clock}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(b.bucket)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("session: create bucket %q: %w", c.bucket, err)
	}
	return b, nil
}

// Close closes the file. Operations after Close return an error.
func (b *Bolt) Close() error { return b.db.Close() }

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkOp(ctx, key); err != nil {
		return nil, err
	}
	now := b.clock()
	var out []byte
	stale := false
	err := b.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(b.bucket).Get([]byte(key))
		if raw == nil {
			return ErrNotFound
		}
		exp, v, err := decodeBolt(key, raw)
		if err != nil {
			return err
		}
		if expired(exp, now) {
			stale = true
			return ErrNotFound
		}
		out = append(make([]byte, 0, len(v)), v...)
		return nil
	})
	if stale {
		// Lazy purge; a failure only leaves the value for the janitor.
		_ = b.db.Update(func(tx *bolt.Tx) error {
			return b.deleteIfExpired(tx.Bucket(b.bucket), []byte(key), now)
		})
	}
	if err != nil && err != ErrNotFound {
		return nil, fmt.Errorf("session: get %q: %w", key, err)
	}
	return out, err
}

// Set implements Store.
func (b *Bolt) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkOp(ctx, key); err != nil {
		return err
	}
	raw := make([]byte, boltHeader+len(value))
	binary.BigEndian.PutUint64(raw, uint64(expiry(b.clock(), ttl)))
	copy(raw[boltHeader:], value)
	err := b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(b.bucket).Put([]byte(key), raw)
	})
	if err != nil {
		return fmt.Errorf("session: set %q: %w", key, err)
	}
	return nil
}

// Delete implements Store.
func (b *Bolt) Delete(ctx context.Context, key string) error {
	if err := checkOp(ctx, key); err != nil {
		return err
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(b.bucket).Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("session: delete %q: %w", key, err)
	}
	return nil
}

// Len returns the number of stored values, expired ones not yet purged
// included.
func (b *Bolt) Len() int {
	n := 0
	_ = b.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(b.bucket).Stats().KeyN
		return nil
	})
	return n
}

// Purge removes every expired value and returns how many it removed. It
// works in transactions of at most purgeBatch keys and stops early,
// returning ctx.Err(), when ctx ends.
func (b *Bolt) Purge(ctx context.Context) (int, error) {
	removed := 0
	var from []byte
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		now := b.clock()
		var next []byte
		err := b.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(b.bucket)
			c := bk.Cursor()
			var stale [][]byte
			k, v := c.Seek(from)
			for scanned := 0; k != nil; k, v = c.Next() {
				if scanned == purgeBatch {
					next = bytes.Clone(k)
					break
				}
				scanned++
				if exp, _, err := decodeBolt(string(k), v); err == nil && expired(exp, now) {
					stale = append(stale, bytes.Clone(k))
				}
			}
			// Deleting after the scan: deleting under a cursor can skip keys.
			for _, k := range stale {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
			removed += len(stale)
			return nil
		})
		if err != nil {
			return removed, fmt.Errorf("session: purge: %w", err)
		}
		if next == nil {
			return removed, nil
		}
		from = next
	}
}

// Janitor calls Purge every interval (DefaultJanitorInterval if every
// <= 0) until ctx ends, then returns nil; it returns early with Purge's
// error if the file fails. It runs in the caller's goroutine: the owner
// (the bot's Run) starts it and ends it with ctx.
func (b *Bolt) Janitor(ctx context.Context, every time.Duration) error {
	return runJanitor(ctx, every, b.Purge)
}

func (b *Bolt) deleteIfExpired(bk *bolt.Bucket, key []byte, now time.Time) error {
	raw := bk.Get(key)
	if raw == nil {
		return nil
	}
	if exp, _, err := decodeBolt(string(key), raw); err == nil && !expired(exp, now) {
		return nil // set again meanwhile
	}
	return bk.Delete(key)
}

func decodeBolt(key string, raw []byte) (exp int64, value []byte, err error) {
	if len(raw) < boltHeader {
		return 0, nil, fmt.Errorf("session: value of %q is corrupt: %d bytes, want at least %d", key, len(raw), boltHeader)
	}
	return int64(binary.BigEndian.Uint64(raw)), raw[boltHeader:], nil
}
