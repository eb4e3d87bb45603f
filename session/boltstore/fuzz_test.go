package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tidygram/tidygram/session"
	bolt "go.etcd.io/bbolt"
)

// FuzzBoltValue writes arbitrary raw records into a Bolt store's bucket:
// Get returns a value, session.ErrNotFound (expired) or a corruption error, and
// never panics; Purge never fails on them.
func FuzzBoltValue(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(append(binary.BigEndian.AppendUint64(nil, 1), "old"...))
	f.Add(append(binary.BigEndian.AppendUint64(nil, 1<<62), "future"...))
	f.Add([]byte{1, 2, 3})
	ctx := context.Background()
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, raw []byte) {
		n++
		b, err := Open(filepath.Join(dir, "f"+string(rune('a'+n%26))+".db"))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		err = b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(b.bucket).Put([]byte("k"), raw) })
		if err != nil {
			t.Fatal(err)
		}
		v, err := b.Get(ctx, "k")
		switch {
		case len(raw) < boltHeader:
			if err == nil {
				t.Fatalf("record of %d bytes read as %q", len(raw), v)
			}
		case err == nil:
			if !bytes.Equal(v, raw[boltHeader:]) {
				t.Fatalf("Get = %q, want %q", v, raw[boltHeader:])
			}
		case err != session.ErrNotFound:
			t.Fatalf("Get of a well-formed record: %v", err)
		}
		if _, err := b.Purge(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzBoltFile patches a store's file (bytes written at an offset, and
// the file maybe cut) and opens it: Open either refuses it with a
// *CorruptError or opens it, and then no operation makes bbolt panic or
// fault, that is, the check at open saw everything that would (a
// recovered failure would break the store; a fault the guard missed would
// crash the fuzzer).
func FuzzBoltFile(f *testing.F) {
	fx := newBoltFixture(f, 300)
	base, err := os.ReadFile(fx.path)
	if err != nil {
		f.Fatal(err)
	}
	ps := uint32(fx.pageSize)
	f.Add(uint32(0), []byte{}, uint32(0))                          // untouched
	f.Add(uint32(4*ps), []byte{0xff, 0xff, 0xff, 0xff}, uint32(0)) // a page header
	f.Add(uint32(2*ps+10), []byte{0xff, 0xff}, uint32(0))          // the freelist's count, perhaps
	f.Add(uint32(3*ps+16), []byte{0, 0, 0, 0, 0xff, 0xff}, uint32(0))
	f.Add(uint32(0), []byte{}, uint32(len(base))-ps)
	f.Add(uint32(16), []byte("\xed\xda\x0c\xed"), uint32(7))
	ctx := context.Background()
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, off uint32, patch []byte, cut uint32) {
		n++
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("one input took %v", d)
			}
		}()
		data := bytes.Clone(base)
		if len(patch) > 0 {
			at := int(off % uint32(len(data)))
			copy(data[at:], patch)
		}
		data = data[:len(data)-int(cut%uint32(len(data)+1))]
		path := filepath.Join(dir, fmt.Sprintf("f%d.db", n%8))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := Open(path)
		if err != nil {
			if !errors.Is(err, session.ErrCorrupt) {
				t.Fatalf("Open = %v, want nil or a *CorruptError", err)
			}
			return
		}
		defer b.Close()
		for i := range 300 {
			_, _ = b.Get(ctx, fmt.Sprintf("c%d:u%d", i, i*7))
		}
		_ = b.Set(ctx, "c1:u7", []byte("changed"), 0)
		_ = b.Set(ctx, "new", bytes.Repeat([]byte("n"), 5000), 0)
		_ = b.Delete(ctx, "c2:u14")
		_, _ = b.Purge(ctx)
		_ = b.Len()
		if err := b.Err(); err != nil {
			t.Fatalf("the check at open passed, then: %v", err)
		}
	})
}
