package session

import (
	"bytes"
	"context"
	"testing"
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
