package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// FuzzLoad stores arbitrary bytes where a session value is expected:
// Load returns a value or an error, never panics, and the bytes stay as
// they were (bad input loses nothing).
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{`{"items":["tea"],"total":3}`, `{}`, `null`, `[]`, `{"total":"x"}`, `{`, "", "\xff\x00"} {
		f.Add([]byte(seed))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw []byte) {
		store := NewMemory()
		s := New[cart](store)
		if err := store.Set(ctx, "k", raw, 0); err != nil {
			t.Fatal(err)
		}
		_, err := s.Load(ctx, "k")
		sc, openErr := s.Open(ctx, "k")
		if (err == nil) != (openErr == nil) {
			t.Fatalf("Load err %v but Open err %v", err, openErr)
		}
		if openErr == nil {
			if err := sc.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got, gerr := store.Get(ctx, "k")
		if gerr != nil {
			t.Fatalf("value gone after Load/Open/Commit: %v", gerr)
		}
		if !bytes.Equal(got, raw) { // untouched: not rewritten
			t.Fatalf("bytes were changed by an untouched session: %q -> %q", raw, got)
		}
	})
}

// FuzzBoltValue writes arbitrary raw records into a Bolt store's bucket:
// Get returns a value, ErrNotFound (expired) or a corruption error, and
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
		b, err := OpenBolt(filepath.Join(dir, "f"+string(rune('a'+n%26))+".db"))
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
		case err != ErrNotFound:
			t.Fatalf("Get of a well-formed record: %v", err)
		}
		if _, err := b.Purge(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
