package jetstream

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/jetstream/internal/natstest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/session/storetest"
	"github.com/tidygram/tidygram/tg"
)

// testClock is a clock that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Unix(1_700_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testCtx returns a context that ends with t or after a bound.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newTestStore returns a store on a fresh bucket of js.
func newTestStore(t *testing.T, js natsjs.JetStream, bucket string, opts ...StoreOption) *SessionStore {
	t.Helper()
	s, err := NewSessionStore(testCtx(t), js, append([]StoreOption{StoreBucket(bucket)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bucketName returns a bucket name unique within a test binary run.
func bucketName(t *testing.T) string {
	r := strings.NewReplacer("/", "_", " ", "_", "#", "_")
	return "b_" + r.Replace(t.Name())
}

// The Store contract every session store keeps (session/storetest: set,
// get, overwrite, delete, expiry by the store's clock, empty keys, copies,
// done contexts), and session keys with characters KV keys do not allow,
// escaped without colliding with a key that looks like their escape.
func TestSessionStoreContract(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	storetest.Run(t, func(t *testing.T, now func() time.Time) session.Store {
		return newTestStore(t, js, bucketName(t), StoreClock(now))
	})
	t.Run("EscapedKeys", func(t *testing.T) {
		ctx := testCtx(t)
		s := newTestStore(t, js, bucketName(t))
		for k, v := range map[string]string{"s:c-100123:u5": "x", "s_3Ac-100123_3Au5": "y"} {
			if err := s.Set(ctx, k, []byte(v), 0); err != nil {
				t.Fatal(err)
			}
		}
		for k, want := range map[string]string{"s:c-100123:u5": "x", "s_3Ac-100123_3Au5": "y"} {
			if got, err := s.Get(ctx, k); err != nil || string(got) != want {
				t.Fatalf("Get(%q) = %q, %v; want %q", k, got, err, want)
			}
		}
	})
}

// Values are copied in and out; every operation refuses a done context
// and does nothing; sizes over the limits are refused before anything is
// sent.
func TestSessionStoreCopiesContextAndSizes(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	s := newTestStore(t, js, "sizes", StoreMaxValueBytes(100))

	t.Run("copies", func(t *testing.T) {
		in := []byte("hello")
		if err := s.Set(ctx, "k", in, 0); err != nil {
			t.Fatal(err)
		}
		in[0] = 'J'
		out, err := s.Get(ctx, "k")
		if err != nil || string(out) != "hello" {
			t.Fatalf("Get = %q, %v; want hello (the value aliased the caller's slice)", out, err)
		}
		out[0] = 'Y'
		if again, _ := s.Get(ctx, "k"); string(again) != "hello" {
			t.Fatalf("Get after changing a returned slice = %q, want hello", again)
		}
	})

	t.Run("context done", func(t *testing.T) {
		if err := s.Set(ctx, "c", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		_, ver, err := s.GetVersion(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		ops := []struct {
			name string
			op   func() error
		}{
			{"get", func() error { _, err := s.Get(done, "c"); return err }},
			{"getversion", func() error { _, _, err := s.GetVersion(done, "c"); return err }},
			{"set", func() error { return s.Set(done, "c", []byte("other"), 0) }},
			{"setif", func() error { _, err := s.SetIf(done, "c", []byte("other"), 0, ver); return err }},
			{"del", func() error { return s.Delete(done, "c") }},
			{"delif", func() error { return s.DeleteIf(done, "c", ver) }},
		}
		for _, o := range ops {
			if err := o.op(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled ctx: err = %v, want context.Canceled", o.name, err)
			}
		}
		got, ver2, err := s.GetVersion(ctx, "c")
		if err != nil || string(got) != "v" || ver2 != ver {
			t.Fatalf("after cancelled ops GetVersion = %q, %d, %v; want v, %d", got, ver2, err, ver)
		}
	})

	t.Run("sizes", func(t *testing.T) {
		tests := []struct {
			name  string
			key   string
			value int
			want  string // SizeError.What, "" for success
		}{
			{"value at the limit", "v1", 100, ""},
			{"value over the limit", "v2", 101, "value"},
			{"key at the limit, all escaped", strings.Repeat(":", MaxSessionKeyBytes), 1, ""},
			{"key over the limit", strings.Repeat("k", MaxSessionKeyBytes+1), 1, "key"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				value := bytes.Repeat([]byte("x"), tt.value)
				err := s.Set(ctx, tt.key, value, time.Hour)
				ifKey := "if" + tt.key[2:] // as long as the key
				_, ierr := s.SetIf(ctx, ifKey, value, 0, 0)
				if tt.want == "" {
					if err != nil || ierr != nil {
						t.Fatalf("Set, SetIf = %v, %v; want nil", err, ierr)
					}
					if got, err := s.Get(ctx, tt.key); err != nil || !bytes.Equal(got, value) {
						t.Fatalf("Get = %d bytes, %v", len(got), err)
					}
					return
				}
				for _, err := range []error{err, ierr} {
					var se *session.SizeError
					if !errors.As(err, &se) || !errors.Is(err, session.ErrTooLarge) || se.What != tt.want {
						t.Fatalf("err = %v, want a *session.SizeError for the %s", err, tt.want)
					}
				}
				if tt.want == "value" {
					if _, err := s.Get(ctx, tt.key); !errors.Is(err, session.ErrNotFound) {
						t.Fatalf("a refused value was stored: Get err = %v", err)
					}
				}
			})
		}
	})
}

// Two instances (two connections, two stores on one bucket) open the same
// session; the first commit wins, the second gets ErrConflict (wrapping
// the server's refusal) and writes nothing, whether it writes or clears.
// A fresh Open on the loser sees the winner's value and commits.
func TestSessionStoreConflictBetweenInstances(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, jsA := natstest.Connect(t, node.URL())
	_, jsB := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	a := session.New[int](newTestStore(t, jsA, "conflict"))
	b := session.New[int](newTestStore(t, jsB, "conflict"))

	tests := []struct {
		name   string
		stored bool // a value exists before both open
		clear  bool // the loser clears rather than writes
	}{
		{"write over a value", true, false},
		{"create", false, false},
		{"clear", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := a.Key(-100123, int64(len(tt.name)))
			if tt.stored {
				if err := a.Save(ctx, key, 1); err != nil {
					t.Fatal(err)
				}
			}
			sa, err := a.Open(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := b.Open(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			*sa.Value() = 2
			if err := sa.Commit(ctx); err != nil {
				t.Fatalf("first commit: %v", err)
			}
			if tt.clear {
				sb.Clear()
			} else {
				*sb.Value() = 9
			}
			err = sb.Commit(ctx)
			var apiErr *natsjs.APIError
			if !errors.Is(err, session.ErrConflict) || !errors.As(err, &apiErr) {
				t.Fatalf("second commit = %v, want ErrConflict wrapping the server's *APIError", err)
			}
			if v, err := b.Load(ctx, key); err != nil || v != 2 {
				t.Fatalf("after the refused commit: %d, %v; want 2", v, err)
			}
			// The loser's next update reads again and goes through.
			if err := b.Do(ctx, key, func(_ context.Context, v *int) error { *v += 10; return nil }); err != nil {
				t.Fatal(err)
			}
			if v, err := a.Load(ctx, key); err != nil || v != 12 {
				t.Fatalf("after a fresh Do on the other instance: %d, %v; want 12", v, err)
			}
		})
	}
}

// SetIf and DeleteIf against every state a key can be in: absent,
// live, deleted (a purge marker), expired (by the envelope), replaced.
func TestSessionStoreVersioned(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	clock := newTestClock()
	s := newTestStore(t, js, "versioned", StoreClock(clock.Now))
	conflict := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, session.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
	}

	t.Run("create, update, stale", func(t *testing.T) {
		v1, err := s.SetIf(ctx, "k1", []byte("a"), 0, 0)
		if err != nil || v1 == 0 {
			t.Fatalf("SetIf on an absent key = %d, %v", v1, err)
		}
		_, err = s.SetIf(ctx, "k1", []byte("b"), 0, 0)
		conflict(t, err)
		v2, err := s.SetIf(ctx, "k1", []byte("c"), 0, v1)
		if err != nil || v2 <= v1 {
			t.Fatalf("SetIf over the version read = %d, %v", v2, err)
		}
		_, err = s.SetIf(ctx, "k1", []byte("d"), 0, v1)
		conflict(t, err)
		got, ver, err := s.GetVersion(ctx, "k1")
		if err != nil || string(got) != "c" || ver != v2 {
			t.Fatalf("GetVersion = %q, %d, %v; want c, %d", got, ver, err, v2)
		}
	})

	t.Run("delete if", func(t *testing.T) {
		v1, err := s.SetIf(ctx, "k2", []byte("a"), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		conflict(t, s.DeleteIf(ctx, "k2", 0))
		conflict(t, s.DeleteIf(ctx, "k2", v1+1000))
		if err := s.DeleteIf(ctx, "k2", v1); err != nil {
			t.Fatal(err)
		}
		if _, ver, err := s.GetVersion(ctx, "k2"); !errors.Is(err, session.ErrNotFound) || ver != 0 {
			t.Fatalf("after DeleteIf: version %d, %v", ver, err)
		}
		if err := s.DeleteIf(ctx, "k2", 0); err != nil {
			t.Fatalf("DeleteIf(0) on a deleted key: %v", err)
		}
		conflict(t, s.DeleteIf(ctx, "k2", v1)) // the marker is a change
		if err := s.DeleteIf(ctx, "never-set", 0); err != nil {
			t.Fatalf("DeleteIf(0) on an absent key: %v", err)
		}
	})

	t.Run("create over a deleted key", func(t *testing.T) {
		if err := s.Set(ctx, "k3", []byte("a"), 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "k3"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetIf(ctx, "k3", []byte("b"), 0, 0); err != nil {
			t.Fatalf("SetIf(0) over a purge marker: %v", err)
		}
		if got, _ := s.Get(ctx, "k3"); string(got) != "b" {
			t.Fatalf("Get = %q, want b", got)
		}
	})

	t.Run("create over an expired value", func(t *testing.T) {
		v1, err := s.SetIf(ctx, "k4", []byte("a"), time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
		if _, ver, err := s.GetVersion(ctx, "k4"); !errors.Is(err, session.ErrNotFound) || ver != 0 {
			t.Fatalf("expired: version %d, %v", ver, err)
		}
		v2, err := s.SetIf(ctx, "k4", []byte("b"), time.Minute, 0)
		if err != nil || v2 <= v1 {
			t.Fatalf("SetIf(0) over an expired value = %d, %v", v2, err)
		}
		clock.Advance(time.Minute)
		if err := s.DeleteIf(ctx, "k4", 0); err != nil {
			t.Fatalf("DeleteIf(0) on an expired value: %v", err)
		}
		e, err := s.b.get(ctx, escapeKey("k4"))
		if err != nil || !e.deleted {
			t.Fatalf("the expired value was not purged: %+v, %v", e, err)
		}
	})
}

// A value another client put in the bucket (no envelope) is an error
// matching session.ErrCorrupt, for reads and for conditional writes; Set
// and Delete replace it.
func TestSessionStoreForeignValue(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	s := newTestStore(t, js, "foreign")
	kv, err := js.KeyValue(ctx, "foreign")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"plain", "", "TGS\x02123456789"} {
		if _, err := kv.Put(ctx, "f", []byte(v)); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, "f")
		var ce *CorruptValueError
		if !errors.Is(err, session.ErrCorrupt) || !errors.As(err, &ce) || ce.Key != "f" {
			t.Fatalf("Get of %q = %v, want a *CorruptValueError", v, err)
		}
		if _, err := s.SetIf(ctx, "f", []byte("x"), 0, 0); !errors.Is(err, session.ErrConflict) {
			t.Fatalf("SetIf(0) over a foreign value = %v, want ErrConflict", err)
		}
		if err := s.DeleteIf(ctx, "f", 0); !errors.Is(err, session.ErrConflict) {
			t.Fatalf("DeleteIf(0) of a foreign value = %v, want ErrConflict", err)
		}
	}
	if err := s.Set(ctx, "f", []byte("mine"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "f"); err != nil || string(got) != "mine" {
		t.Fatalf("after Set: %q, %v", got, err)
	}
}

// The server removes a value whose ttl ended (storage is bounded by the
// TTLs), and the store reads it as absent from the moment its ttl passed,
// by the real clock. The test polls with a bounded deadline.
func TestSessionStoreServerRemovesExpired(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	s := newTestStore(t, js, "expiry")
	if !s.b.msgTTL {
		t.Fatal("the bucket was created without per-message TTLs")
	}
	start := time.Now()
	if err := s.Set(ctx, "short", []byte("v"), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "short"); err != nil && time.Since(start) < 300*time.Millisecond {
		t.Fatalf("Get before the ttl: %v", err)
	}
	wait.Until(t, 10*time.Second, "the value absent after its 300 ms ttl", func() bool {
		_, err := s.Get(ctx, "short")
		if errors.Is(err, session.ErrNotFound) {
			if d := time.Since(start); d < 300*time.Millisecond {
				t.Fatalf("absent after %v, before its ttl", d)
			}
			return true
		}
		if err != nil {
			t.Fatal(err)
		}
		return false
	})
	// The server's removal: the TTL is 1 s (rounded up), expired messages
	// are swept about every second.
	removed := wait.For(10*time.Second, func() bool {
		e, err := s.b.get(ctx, escapeKey("short"))
		if err != nil {
			t.Fatal(err)
		}
		if !e.live() {
			t.Logf("removed by the server %v after the write (marker: %v)", time.Since(start).Round(time.Millisecond), e.deleted)
		}
		return !e.live()
	})
	if !removed {
		t.Fatal("the server kept the expired value for 10 s")
	}
	if got, err := s.Get(ctx, "forever"); err != nil || string(got) != "v" {
		t.Fatalf("a value without ttl: %q, %v", got, err)
	}
}

// NewSessionStore binds an existing bucket, whatever created it, and
// keeps its configuration; without per-message TTLs expiry still holds
// (by the envelope). Invalid options are *session.OptionError, found
// without contacting the server.
func TestNewSessionStore(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)

	t.Run("binds an existing bucket", func(t *testing.T) {
		if _, err := js.CreateKeyValue(ctx, natsjs.KeyValueConfig{Bucket: "plain", MaxValueSize: 1024}); err != nil {
			t.Fatal(err)
		}
		clock := newTestClock()
		s := newTestStore(t, js, "plain", StoreClock(clock.Now))
		if want := 1024 - envelopeLen - payloadReserve; s.b.msgTTL || s.MaxValueBytes() != want {
			t.Fatalf("bound: msgTTL %v, max value %d; want false, %d", s.b.msgTTL, s.MaxValueBytes(), want)
		}
		if err := s.Set(ctx, "k", []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		if _, err := s.Get(ctx, "k"); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("expired value: %v", err)
		}
		again := newTestStore(t, js, "plain") // a second instance binds the same
		if again.Bucket() != "plain" {
			t.Fatal(again.Bucket())
		}
	})

	t.Run("refuses a stream that is not a KV bucket", func(t *testing.T) {
		if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "KV_other", Subjects: []string{"other.>"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := NewSessionStore(ctx, js, StoreBucket("other")); err == nil {
			t.Fatal("bound a stream that is not a KV bucket")
		}
	})

	t.Run("invalid options", func(t *testing.T) {
		tests := []struct {
			opt    StoreOption
			option string
		}{
			{StoreBucket("a.b"), "StoreBucket"},
			{StoreBucket(""), "StoreBucket"},
			{StoreReplicas(0), "StoreReplicas"},
			{StoreReplicas(6), "StoreReplicas"},
			{StoreMaxValueBytes(-1), "StoreMaxValueBytes"},
			{StoreMaxValueBytes(2 << 20), "StoreMaxValueBytes"}, // over max_payload
		}
		for _, tt := range tests {
			_, err := NewSessionStore(ctx, js, tt.opt)
			var oe *session.OptionError
			if !errors.As(err, &oe) || oe.Option != tt.option {
				t.Errorf("%s: err = %v, want a *session.OptionError", tt.option, err)
			}
		}
		if _, err := NewSessionStore(ctx, nil); err == nil {
			t.Error("nil JetStream accepted")
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := NewSessionStore(done, js); !errors.Is(err, context.Canceled) {
			t.Errorf("done ctx: %v", err)
		}
	})
}

// Escaped keys are valid KV keys, reversible and collision-free.
func TestEscapeKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"c-100123", "c-100123"},
		{"u5", "u5"},
		{"s:c-100123:u5", "s_3Ac-100123_3Au5"},
		{"a_b", "a_5Fb"},
		{"a.b", "a_2Eb"},
		{".", "_2E"},
		{"*", "_2A"},
		{">", "_3E"},
		{"a b", "a_20b"},
		{"ключ", "_D0_BA_D0_BB_D1_8E_D1_87"},
		{"\x00", "_00"},
		{"a/b=c", "a/b_3Dc"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := escapeKey(tt.in)
		if got != tt.want {
			t.Errorf("escapeKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := unescapeKey(got); err != nil || back != tt.in {
			t.Errorf("unescapeKey(%q) = %q, %v; want %q", got, back, err, tt.in)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%q and %q both escape to %q", other, tt.in, got)
		}
		seen[got] = tt.in
	}
	for _, bad := range []string{"a_", "a_4", "a_4g", "_41", "a.b", "a b"} {
		if _, err := unescapeKey(bad); err == nil {
			t.Errorf("unescapeKey(%q) accepted a string escapeKey never returns", bad)
		}
	}
}

// FuzzEscapeKey: every key escapes to a valid KV key that unescapes to
// it; a string that unescapes escapes back to itself (so two keys never
// share an escaped form).
func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"s:c1:u5", "a_5F", "_", "..", "ключ", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		e := escapeKey(s)
		if !validTestKey(e) {
			t.Fatalf("escapeKey(%q) = %q is not a valid KV key", s, e)
		}
		back, err := unescapeKey(e)
		if err != nil || back != s {
			t.Fatalf("unescapeKey(escapeKey(%q)) = %q, %v", s, back, err)
		}
		if u, err := unescapeKey(s); err == nil && escapeKey(u) != s {
			t.Fatalf("unescapeKey(%q) = %q, which escapes to %q", s, u, escapeKey(u))
		}
	})
}

// validTestKey is nats.go's rule for KV keys.
func validTestKey(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' || strings.Contains(k, "..") {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(plainKeyByte(c) || c == '_' || c == '=' || c == '.') {
			return false
		}
	}
	return true
}

// On a 3-node cluster with R3 buckets and the two instances connected to
// different nodes, a refused write (code 10071 here; nats.go says some
// replicated paths answer 10164, which isConflict takes too) matches
// ErrConflict for the store, and the limiter re-reads and keeps a chat's
// rule across the instances.
func TestSharedStateOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	leaktest.Check(t)
	nodes := natstest.Cluster(t, 3)
	_, jsA := natstest.Connect(t, nodes[0].URL())
	_, jsB := natstest.Connect(t, nodes[1].URL())
	ctx := testCtx(t)

	a := newTestStore(t, jsA, "r3", StoreReplicas(3))
	b := newTestStore(t, jsB, "r3", StoreReplicas(3))
	v1, err := a.SetIf(ctx, "k", []byte("a"), time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetIf(ctx, "k", []byte("b"), time.Hour, 0); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("create over a value on R3: %v, want ErrConflict", err)
	}
	if _, err := a.SetIf(ctx, "k", []byte("c"), time.Hour, v1); err != nil {
		t.Fatal(err)
	}
	_, err = b.SetIf(ctx, "k", []byte("d"), time.Hour, v1)
	var apiErr *natsjs.APIError
	if !errors.Is(err, session.ErrConflict) || !errors.As(err, &apiErr) {
		t.Fatalf("stale write on R3: %v, want ErrConflict wrapping the server's error", err)
	}
	t.Logf("refused write on R3: error code %d", apiErr.ErrorCode)
	if err := b.DeleteIf(ctx, "k", v1); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("stale delete on R3: %v", err)
	}

	rule := limit.Rule{Every: 200 * time.Millisecond, Burst: 3}
	log := &turnLog{}
	la := newTestLimiter(t, jsA, "r3flood", log, LimiterReplicas(3), LimiterRules(noRule, rule, noRule))
	lb := newTestLimiter(t, jsB, "r3flood", log, LimiterReplicas(3), LimiterRules(noRule, rule, noRule))
	for i := range 6 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		if err := l.Wait(ctx, tg.ID(77)); err != nil {
			t.Fatal(err)
		}
	}
	checkRule(t, "chat on R3", log.of(tg.ID(77)), rule)
	if st := lb.Stats(); st.Conflicts == 0 {
		t.Fatalf("B never met A's writes: %+v", st)
	}
}
