package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/session/internal/storekit"
	bolt "go.etcd.io/bbolt"
)

// crashed matches what the runtime prints when a panic or a fault ends
// the process.
var crashed = regexp.MustCompile(`(?m)^(panic: |fatal error: |\[signal |goroutine \d+ \[running\]:)`)

// childEnv names the test a re-executed test binary runs in-process (see
// inChild).
const childEnv = "TIDYGRAM_BOLTSTORE_TEST_CHILD"

// inChild runs body in a child process (this test binary, re-executed for
// this one test), so that a crash (a fatal memory fault, which no recover
// can stop) fails the test instead of killing the binary, and the parent
// can honestly assert that nothing crashed: the child must exit 0 having
// passed this test, with no panic or fatal error in its output.
func inChild(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		body(t)
		return
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.count=1", "-test.v", "-test.timeout=90s")
	// Under the race detector a process sleeps a second at exit for late
	// reports; the child's races are all reported before it passes.
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	out, err := cmd.CombinedOutput()
	text := string(out)
	switch {
	case err != nil:
		t.Fatalf("child process failed (%v):\n%s", err, text)
	case !strings.Contains(text, "--- PASS: "+t.Name()+" "):
		t.Fatalf("child process did not pass %s:\n%s", t.Name(), text)
	case crashed.MatchString(text):
		t.Fatalf("child process crashed or panicked:\n%s", text)
	}
}

// boltFixture is a Bolt file with values in it, closed.
type boltFixture struct {
	path     string
	keys     int
	batch    int // keys written per transaction
	pageSize int64
	hwm      int64 // pages in use
	size     int64
}

// newBoltFixture writes a store of n keys (values of 50 to 250 bytes) to
// a fresh file, in 10 transactions or of 100 keys, whichever are more, and
// closes it.
func newBoltFixture(t testing.TB, n int) *boltFixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	batch := max(100, n/10)
	fillBolt(t, b, n, batch, func(i int) (key, value []byte, exp int64) {
		if i%3 == 0 {
			exp = storekit.Expiry(now, time.Hour)
		}
		return fmt.Appendf(nil, "c%d:u%d", i, i*7), []byte(strings.Repeat("v", 50+i%200)), exp
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	meta, cerr := readBoltMeta(f, info.Size())
	if cerr != nil {
		t.Fatal(cerr)
	}
	return &boltFixture{path: path, keys: n, batch: batch, pageSize: int64(meta.pageSize), hwm: int64(meta.hwm), size: info.Size()}
}

// fillBolt stores n records made by rec in s, batch to a transaction
// (each Set would be one, and fsync'd).
func fillBolt(tb testing.TB, s *Store, n, batch int, rec func(i int) (key, value []byte, exp int64)) {
	tb.Helper()
	for from := 0; from < n; from += batch {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i := from; i < min(from+batch, n); i++ {
				key, value, exp := rec(i)
				raw := append(binary.BigEndian.AppendUint64(nil, uint64(exp)), value...)
				if err := tx.Bucket(s.bucket).Put(key, raw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// rewrite changes the file's bytes with fn.
func (fx *boltFixture) rewrite(t testing.TB, fn func(data []byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fx.path, fn(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// patchMetas changes both meta pages with fn and writes valid checksums,
// so that only the check of what the meta pages point to can object.
func patchMetas(ps int64, fn func(meta []byte)) func([]byte) []byte {
	return func(data []byte) []byte {
		for _, off := range []int64{0, ps} {
			m := data[off+boltPageHeader : off+boltPageHeader+boltMetaLen]
			fn(m)
			h := fnv.New64a()
			h.Write(m[:boltMetaSum])
			ne.PutUint64(m[boltMetaSum:], h.Sum64())
		}
		return data
	}
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestBoltDamagedFileAtOpen damages a store's file in many ways and opens
// it, each case in a child process: a damaged or foreign file gives a
// *CorruptError naming the file, never a crash or a panic; damage bbolt
// recovers from by design opens with the values intact.
func TestBoltDamagedFileAtOpen(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), randomBytes(7, 16<<10)...)
	tests := []struct {
		name   string
		damage func(fx *boltFixture) func([]byte) []byte
		ok     bool // opens; values intact unless fresh
		fresh  bool // opens as an empty store
		lost   bool // it may lose the last transaction's values
	}{
		{name: "empty file is a fresh store", ok: true, fresh: true, damage: func(*boltFixture) func([]byte) []byte {
			return func([]byte) []byte { return nil }
		}},
		{name: "cut after the pages in use", ok: true, damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { return d[:fx.hwm*fx.pageSize] }
		}},
		{name: "first meta page zeroed (bbolt falls back to the other)", ok: true, lost: true, damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { clear(d[:fx.pageSize]); return d }
		}},
		{name: "truncated to 100 bytes", damage: func(*boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { return d[:100] }
		}},
		{name: "truncated to one page", damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { return d[:fx.pageSize] }
		}},
		{name: "truncated to three pages", damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { return d[:3*fx.pageSize] }
		}},
		{name: "truncated to half the pages in use", damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { return d[:fx.hwm/2*fx.pageSize] }
		}},
		{name: "truncated by one page in use", damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { return d[:(fx.hwm-1)*fx.pageSize] }
		}},
		{name: "truncated mid-page", damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { return d[:fx.hwm*fx.pageSize-1] }
		}},
		{name: "both meta pages zeroed", damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { clear(d[:2*fx.pageSize]); return d }
		}},
		{name: "meta checksums wrong", damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte {
				d[boltPageHeader+boltMetaSum]++
				d[fx.pageSize+boltPageHeader+boltMetaSum]++
				return d
			}
		}},
		{name: "meta claims more pages than the file has", damage: func(fx *boltFixture) func([]byte) []byte {
			return patchMetas(fx.pageSize, func(m []byte) { ne.PutUint64(m[40:], uint64(fx.size/fx.pageSize+10)) })
		}},
		{name: "meta root page outside the file", damage: func(fx *boltFixture) func([]byte) []byte {
			return patchMetas(fx.pageSize, func(m []byte) { ne.PutUint64(m[16:], 1<<40) })
		}},
		{name: "meta root is a meta page", damage: func(fx *boltFixture) func([]byte) []byte {
			return patchMetas(fx.pageSize, func(m []byte) { ne.PutUint64(m[16:], 1) })
		}},
		{name: "meta freelist page outside the file", damage: func(fx *boltFixture) func([]byte) []byte {
			return patchMetas(fx.pageSize, func(m []byte) { ne.PutUint64(m[32:], uint64(fx.hwm)) })
		}},
		{name: "meta freelist is the root page", damage: func(fx *boltFixture) func([]byte) []byte {
			return patchMetas(fx.pageSize, func(m []byte) { copy(m[32:40], m[16:24]) })
		}},
		{name: "meta page size not a power of two", damage: func(fx *boltFixture) func([]byte) []byte {
			return patchMetas(fx.pageSize, func(m []byte) { ne.PutUint32(m[8:], 3000) })
		}},
		{name: "random bytes from page 4 on, seed 1", damage: randomFrom(4, 1)},
		{name: "random bytes from page 4 on, seed 2", damage: randomFrom(4, 2)},
		{name: "random bytes from page 4 on, seed 3", damage: randomFrom(4, 3)},
		{name: "random bytes from page 2 on", damage: randomFrom(2, 4)},
		{name: "zeroed from page 2 on", damage: func(fx *boltFixture) func([]byte) []byte {
			return func(d []byte) []byte { clear(d[2*fx.pageSize:]); return d }
		}},
		{name: "foreign file: PNG", damage: func(*boltFixture) func([]byte) []byte {
			return func([]byte) []byte { return png }
		}},
		{name: "foreign file: short text", damage: func(*boltFixture) func([]byte) []byte {
			return func([]byte) []byte { return []byte("hello, sessions\n") }
		}},
		{name: "foreign file: 64 KiB of text", damage: func(*boltFixture) func([]byte) []byte {
			return func([]byte) []byte { return []byte(strings.Repeat("not a database\n", 64<<10/15)) }
		}},
		{name: "foreign file: 64 KiB of random bytes", damage: func(*boltFixture) func([]byte) []byte {
			return func([]byte) []byte { return randomBytes(5, 64<<10) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inChild(t, func(t *testing.T) {
				ctx := context.Background()
				fx := newBoltFixture(t, 2000)
				fx.rewrite(t, tt.damage(fx))
				b, err := Open(fx.path)
				if tt.ok {
					if err != nil {
						t.Fatalf("Open = %v, want it to open", err)
					}
					defer b.Close()
					want := fx.keys
					if tt.fresh {
						want = 0
					}
					lost := 0
					if tt.lost {
						lost = fx.batch
					}
					if n := b.Len(); n > want || n < want-lost {
						t.Fatalf("Len = %d, want %d (%d may be lost)", n, want, lost)
					}
					if err := b.Set(ctx, "new", []byte("x"), 0); err != nil {
						t.Fatal(err)
					}
					return
				}
				var ce *CorruptError
				if !errors.Is(err, session.ErrCorrupt) || !errors.As(err, &ce) {
					if b != nil {
						b.Close()
					}
					t.Fatalf("Open = %v, want a *CorruptError", err)
				}
				if ce.Path != fx.path || !strings.Contains(err.Error(), fx.path) || ce.Reason == "" {
					t.Fatalf("CorruptError %+v: want the path %s and a reason", ce, fx.path)
				}
				t.Logf("%v", err)
				// Nothing is left locked or open: the file can be replaced
				// and opened again at once.
				if err := os.Remove(fx.path); err != nil {
					t.Fatal(err)
				}
				b, err = Open(fx.path, WithOpenTimeout(time.Second))
				if err != nil {
					t.Fatalf("a fresh file at the same path: %v", err)
				}
				b.Close()
			})
		})
	}
}

// randomFrom fills the file with seeded random bytes from page on.
func randomFrom(page int64, seed uint64) func(fx *boltFixture) func([]byte) []byte {
	return func(fx *boltFixture) func([]byte) []byte {
		return func(d []byte) []byte {
			copy(d[page*fx.pageSize:], randomBytes(seed, len(d)))
			return d
		}
	}
}

// TestBoltDamagedWhileOpen damages the file of an open store (truncated
// or overwritten behind bbolt's back, which the check at open cannot
// see), then runs each kind of operation first, in a child process: bbolt
// panics or faults on its memory map, and the store returns a
// *CorruptError instead of crashing; then every operation returns that
// error, Close returns without hanging and releases the file's lock, and
// opening the file again reports it corrupt.
func TestBoltDamagedWhileOpen(t *testing.T) {
	damages := []struct {
		name string
		do   func(t *testing.T, fx *boltFixture)
	}{
		{"truncated", func(t *testing.T, fx *boltFixture) {
			if err := os.Truncate(fx.path, 2*fx.pageSize); err != nil {
				t.Fatal(err)
			}
		}},
		{"overwritten", func(t *testing.T, fx *boltFixture) {
			f, err := os.OpenFile(fx.path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(randomBytes(9, int(fx.size-2*fx.pageSize)), 2*fx.pageSize); err != nil {
				t.Fatal(err)
			}
		}},
	}
	ctx := context.Background()
	ops := []struct {
		name string
		do   func(b *Store) error
	}{
		{"get", func(b *Store) error { _, err := b.Get(ctx, "c1999:u13993"); return err }},
		{"set", func(b *Store) error { return b.Set(ctx, "c5:u35", []byte("new"), time.Hour) }},
		{"delete", func(b *Store) error { return b.Delete(ctx, "c7:u49") }},
		{"purge", func(b *Store) error { _, err := b.Purge(ctx); return err }},
	}
	for _, d := range damages {
		for _, op := range ops {
			t.Run(d.name+" then "+op.name, func(t *testing.T) {
				inChild(t, func(t *testing.T) {
					fx := newBoltFixture(t, 2000)
					b, err := Open(fx.path)
					if err != nil {
						t.Fatal(err)
					}
					d.do(t, fx)
					err = op.do(b)
					var ce *CorruptError
					if !errors.Is(err, session.ErrCorrupt) || !errors.As(err, &ce) {
						b.Close()
						t.Fatalf("%s after the damage = %v, want a *CorruptError", op.name, err)
					}
					t.Logf("%v", err)
					if ce.Path != fx.path || ce.Err == nil {
						t.Fatalf("CorruptError %+v: want the path and the recovered failure", ce)
					}
					if !errors.Is(b.Err(), session.ErrCorrupt) {
						t.Fatalf("Err = %v after the failure", b.Err())
					}
					for _, other := range ops {
						if err := other.do(b); !errors.Is(err, session.ErrCorrupt) {
							t.Fatalf("%s on the broken store = %v, want the corruption", other.name, err)
						}
					}
					if b.Len() != 0 {
						t.Fatalf("Len = %d on a broken store", b.Len())
					}
					if err := b.Janitor(ctx, time.Hour); !errors.Is(err, session.ErrCorrupt) {
						t.Fatalf("Janitor = %v, want the corruption at once", err)
					}
					_ = b.Close() // must return: the test binary's timeout catches a hang
					_, err = Open(fx.path, WithOpenTimeout(time.Second))
					if !errors.Is(err, session.ErrCorrupt) {
						t.Fatalf("reopening = %v, want a *CorruptError (not a lock timeout)", err)
					}
				})
			})
		}
	}
}

// BenchmarkBoltCheck measures the check Open runs on an existing
// file, for a store of 100,000 sessions of 50 to 250 bytes:
// go test -run '^$' -bench BoltCheck ./session/boltstore/
func BenchmarkBoltCheck(b *testing.B) {
	fx := newBoltFixture(b, 100_000)
	f, err := os.Open(fx.path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for b.Loop() {
		if cerr := checkBolt(f, fx.size); cerr != nil {
			b.Fatal(cerr)
		}
	}
	b.ReportMetric(float64(fx.hwm*fx.pageSize)/(1<<20), "MiB-used")
}
