// Package boltstore is a file-backed session.Store on bbolt
// (go.etcd.io/bbolt), for bots that must keep sessions across restarts on
// one machine. It is a package of its own so that only the bots that use
// it link bbolt:
//
//	store, err := boltstore.Open("sessions.db") // locked by this process until Close
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	carts := session.New[Cart](store) // the store the bot's sessions use
//
// Its Janitor purges expired values; tidygram.WithJanitor makes the bot's
// Run own it.
//
// A damaged or foreign file is an error (*CorruptError, errors.Is
// session.ErrCorrupt), at Open or at the first operation that meets the
// damage, never a crash (see Store).
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/session/internal/storekit"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store is a file-backed session.Store on bbolt (go.etcd.io/bbolt), for
// bots that must keep sessions across restarts on one machine.
//
// Each value is stored with its expiry; expired values read as absent and
// are removed when read or by Purge/Janitor. Every Set and Delete is one
// bbolt transaction written to disk (fsync) before it returns. The file is
// locked by one process at a time; Open waits at most WithOpenTimeout
// for the lock. Store has no entry cap: its size is bounded by TTLs. Safe
// for concurrent use; writers are serialised, and a writer waiting for
// its turn gives up when its context ends. No goroutine is started.
//
// # Damaged files
//
// A damaged or foreign file is an error, never a crash. Open checks
// the whole file before bbolt reads it (see Open) and returns a
// *CorruptError (errors.Is session.ErrCorrupt) naming the file, and the
// page when it is one page. A file damaged while it is open (truncated or
// overwritten by something else), or in a way the check cannot see, is
// caught when an operation touches the damage: bbolt's panic or memory
// fault is recovered (runtime/debug.SetPanicOnFault) and returned as a
// *CorruptError that wraps it. From then on the store is broken: every
// operation returns that error without calling bbolt, and Close releases
// the file and its lock; after a failure inside a write, bbolt's own
// writer lock may be left held, so Close then closes the file without
// bbolt's Close, and bbolt's memory mapping of the file stays until the
// process exits. A stored value too short to hold its expiry is a
// *CorruptError (with Key) for that value only.
type Store struct {
	db     *bolt.DB
	file   *os.File // bbolt's file, closed directly when bbolt cannot be
	path   string
	bucket []byte
	clock  func() time.Time

	wmu    chan struct{} // one writer in bbolt at a time, ahead of bbolt's lock
	closed atomic.Bool
	broken atomic.Pointer[CorruptError] // the failure that broke the store
	stuck  atomic.Bool                  // the failure was inside a write
}

var _ session.Store = (*Store)(nil)

// boltHeader is the length of the expiry that prefixes every value.
const boltHeader = 8

// purgeBatch is how many keys one Purge transaction scans, so that the
// write lock is never held for a whole large bucket.
const purgeBatch = 1000

// Open opens or creates the bbolt file at path (mode 0600) and its
// bucket. An invalid option value is returned as a *session.OptionError.
// The caller must Close it.
//
// A missing or empty file becomes a fresh store: bbolt creates the file
// before it writes the first pages, so a crash in between leaves an empty
// file, and an empty file holds nothing to lose. Any other file is
// checked, with the lock held and before bbolt reads it: its size must be
// a whole number of pages (at least 4); a meta page must carry bbolt's
// magic, version and checksum (one damaged meta page is bbolt's own crash
// recovery and is accepted); and every page in use, found from that meta
// page (the freelist and the page trees of every bucket), must lie inside
// the file, be used once, have the right type, and hold elements that lie
// inside it, with non-empty keys. A file that fails is returned as a *CorruptError. The check
// reads each page in use once, with plain reads (nothing can fault), so it
// costs one read of the used part of the file: 40 ms or so for a store of
// 100,000 sessions (36 MiB of pages), measured by BenchmarkBoltCheck.
// bbolt's own Tx.Check is not used: it checks key order too, but it reads
// the memory mapping without bounds checks in a goroutine of its own,
// where a fault on a damaged file cannot be recovered, and follows a
// cyclic page graph without end.
func Open(path string, opts ...Option) (*Store, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	b, err := openChecked(f, path, c)
	if err != nil {
		// Release the lock first: a memory mapping bbolt made before it
		// failed would keep it. bbolt may have closed f already.
		_ = unlockFile(f)
		_ = f.Close()
		return nil, err
	}
	return b, nil
}

func openChecked(f *os.File, path string, c config) (*Store, error) {
	fail := func(err error) error { return fmt.Errorf("boltstore: open %s: %w", path, err) }
	if err := lockFile(f, c.openTimeout); err != nil {
		return nil, fail(err)
	}
	info, err := f.Stat()
	if err != nil {
		return nil, fail(err)
	}
	if info.Size() > 0 {
		if cerr := checkBolt(f, info.Size()); cerr != nil {
			return nil, &CorruptError{Path: path, Page: cerr.page, Reason: cerr.reason, Err: cerr.err}
		}
	}
	b := &Store{file: f, path: path, bucket: []byte(c.bucket), clock: c.clock, wmu: make(chan struct{}, 1)}
	err = b.guard("open", false, func() error {
		var err error
		b.db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:  c.openTimeout,
			OpenFile: func(string, int, os.FileMode) (*os.File, error) { return f, nil }, // locked and checked
		})
		return err
	})
	if err != nil {
		if ce := b.broken.Load(); ce != nil {
			return nil, ce // bbolt's mapping, if made, is lost with it
		}
		return nil, fail(err)
	}
	err = b.update(context.Background(), "open", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(b.bucket)
		return err
	})
	if err != nil {
		_ = b.Close()
		if ce := b.broken.Load(); ce != nil {
			return nil, ce
		}
		return nil, fmt.Errorf("boltstore: create bucket %q in %s: %w", c.bucket, path, err)
	}
	return b, nil
}

// guard runs fn, which calls bbolt, and turns a panic or a memory fault in
// it into a *CorruptError that breaks the store. write tells whether fn
// holds bbolt's writer lock.
func (b *Store) guard(op string, write bool, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		ce := &CorruptError{
			Path:   b.path,
			Page:   -1,
			Reason: "bbolt failed in " + op + ": the file was damaged after it was opened, or in a way the check at open cannot see",
			Err:    panicError{r},
		}
		if write {
			b.stuck.Store(true)
		}
		if !b.broken.CompareAndSwap(nil, ce) {
			ce = b.broken.Load()
		}
		err = ce
	}()
	return fn()
}

// usable returns why the store cannot be used, or nil.
func (b *Store) usable() error {
	if ce := b.broken.Load(); ce != nil {
		return ce
	}
	if b.closed.Load() {
		return berrors.ErrDatabaseNotOpen
	}
	return nil
}

// view runs fn in a bbolt read transaction, guarded.
func (b *Store) view(op string, fn func(*bolt.Bucket) error) error {
	if err := b.usable(); err != nil {
		return err
	}
	return b.guard(op, false, func() error {
		return b.db.View(func(tx *bolt.Tx) error {
			bk, err := b.bucketOf(tx)
			if err != nil {
				return err
			}
			return fn(bk)
		})
	})
}

// update runs fn in a bbolt write transaction, guarded, once it is this
// writer's turn or ctx ends.
func (b *Store) update(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	select {
	case b.wmu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.wmu }()
	if err := b.usable(); err != nil {
		return err
	}
	return b.guard(op, true, func() error { return b.db.Update(fn) })
}

// bucketOf returns the store's bucket in tx.
func (b *Store) bucketOf(tx *bolt.Tx) (*bolt.Bucket, error) {
	if bk := tx.Bucket(b.bucket); bk != nil {
		return bk, nil
	}
	return nil, &CorruptError{Path: b.path, Page: -1, Reason: fmt.Sprintf("bucket %q is gone", b.bucket)}
}

// Close closes the file and releases its lock. Operations after Close
// return an error (bbolt's ErrDatabaseNotOpen, or the error that broke
// the store). Close waits for a write in progress; closing twice is not
// an error.
func (b *Store) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.wmu <- struct{}{}
	defer func() { <-b.wmu }()
	if b.db == nil || b.stuck.Load() {
		// bbolt's writer lock may be held for good: DB.Close would wait
		// for it forever. Release the file lock and close the file.
		return errors.Join(unlockFile(b.file), b.file.Close())
	}
	var err error
	if gerr := b.guard("close", false, func() error { err = b.db.Close(); return nil }); gerr != nil {
		return gerr
	}
	return err
}

// updateBucket runs fn on the store's bucket in a write transaction (see
// update).
func (b *Store) updateBucket(ctx context.Context, op string, fn func(*bolt.Bucket) error) error {
	return b.update(ctx, op, func(tx *bolt.Tx) error {
		bk, err := b.bucketOf(tx)
		if err != nil {
			return err
		}
		return fn(bk)
	})
}

// Get implements Store.
func (b *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := storekit.CheckOp(ctx, key); err != nil {
		return nil, err
	}
	now := b.clock()
	var out []byte
	stale := false
	err := b.view("get", func(bk *bolt.Bucket) error {
		raw := bk.Get([]byte(key))
		if raw == nil {
			return session.ErrNotFound
		}
		exp, v, err := b.decode(key, raw)
		if err != nil {
			return err
		}
		if storekit.Expired(exp, now) {
			stale = true
			return session.ErrNotFound
		}
		out = append(make([]byte, 0, len(v)), v...)
		return nil
	})
	if stale {
		// Lazy purge; a failure only leaves the value for the janitor.
		_ = b.updateBucket(ctx, "get", func(bk *bolt.Bucket) error {
			return b.deleteIfExpired(bk, []byte(key), now)
		})
	}
	if err != nil && err != session.ErrNotFound {
		return nil, fmt.Errorf("boltstore: get %q: %w", key, err)
	}
	return out, err
}

// Set implements Store.
func (b *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := storekit.CheckOp(ctx, key); err != nil {
		return err
	}
	raw := make([]byte, boltHeader+len(value))
	binary.BigEndian.PutUint64(raw, uint64(storekit.Expiry(b.clock(), ttl)))
	copy(raw[boltHeader:], value)
	err := b.updateBucket(ctx, "set", func(bk *bolt.Bucket) error {
		return bk.Put([]byte(key), raw)
	})
	if err != nil {
		return fmt.Errorf("boltstore: set %q: %w", key, err)
	}
	return nil
}

// Delete implements Store.
func (b *Store) Delete(ctx context.Context, key string) error {
	if err := storekit.CheckOp(ctx, key); err != nil {
		return err
	}
	err := b.updateBucket(ctx, "delete", func(bk *bolt.Bucket) error {
		return bk.Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete %q: %w", key, err)
	}
	return nil
}

// Len returns the number of stored values, expired ones not yet purged
// included; 0 once the store is closed or broken.
func (b *Store) Len() int {
	n := 0
	_ = b.view("len", func(bk *bolt.Bucket) error {
		n = bk.Stats().KeyN
		return nil
	})
	return n
}

// Err returns the *CorruptError that broke the store, or nil. A broken
// store returns it from every operation.
func (b *Store) Err() error {
	if ce := b.broken.Load(); ce != nil {
		return ce
	}
	return nil
}

// Purge removes every expired value and returns how many it removed. It
// works in transactions of at most purgeBatch keys and stops early,
// returning ctx.Err(), when ctx ends.
func (b *Store) Purge(ctx context.Context) (int, error) {
	removed := 0
	var from []byte
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		now := b.clock()
		var next []byte
		err := b.updateBucket(ctx, "purge", func(bk *bolt.Bucket) error {
			c := bk.Cursor()
			var stale [][]byte
			k, v := c.Seek(from)
			for scanned := 0; k != nil; k, v = c.Next() {
				if scanned == purgeBatch {
					next = bytes.Clone(k)
					break
				}
				scanned++
				if exp, _, err := b.decode(string(k), v); err == nil && storekit.Expired(exp, now) {
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
			return removed, fmt.Errorf("boltstore: purge: %w", err)
		}
		if next == nil {
			return removed, nil
		}
		from = next
	}
}

// Janitor calls Purge every interval (session.DefaultJanitorInterval if every
// <= 0) until ctx ends, then returns nil; it returns early with Purge's
// error if the file fails (a broken store: at once). It runs in the
// caller's goroutine: the owner (the bot's Run) starts it and ends it
// with ctx.
func (b *Store) Janitor(ctx context.Context, every time.Duration) error {
	if ce := b.broken.Load(); ce != nil {
		return ce
	}
	return storekit.RunJanitor(ctx, every, session.DefaultJanitorInterval, b.Purge)
}

func (b *Store) deleteIfExpired(bk *bolt.Bucket, key []byte, now time.Time) error {
	raw := bk.Get(key)
	if raw == nil {
		return nil
	}
	if exp, _, err := b.decode(string(key), raw); err == nil && !storekit.Expired(exp, now) {
		return nil // set again meanwhile
	}
	return bk.Delete(key)
}

// decode splits a stored record into its expiry and value.
func (b *Store) decode(key string, raw []byte) (exp int64, value []byte, err error) {
	if len(raw) < boltHeader {
		return 0, nil, &CorruptError{Path: b.path, Page: -1, Key: key, Reason: fmt.Sprintf("%d bytes, want at least %d", len(raw), boltHeader)}
	}
	return int64(binary.BigEndian.Uint64(raw)), raw[boltHeader:], nil
}
