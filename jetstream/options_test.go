package jetstream

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// TestOptionErrors: every invalid option or combination fails Open with
// an *OptionError naming it, before anything starts.
func TestOptionErrors(t *testing.T) {
	leaktest.Check(t)
	dir := t.TempDir()
	cases := []struct {
		option string
		opts   []Option
	}{
		{"Open", nil},
		{"Open", []Option{Embedded(dir), nil}},
		{"Embedded", []Option{Embedded("")}},
		{"Embedded", []Option{Embedded(dir), URL("nats://127.0.0.1:1")}},
		{"URL", []Option{URL("")}},
		{"SyncAlways", []Option{URL("nats://127.0.0.1:1"), SyncAlways()}},
		{"SyncAlways", []Option{URL("nats://127.0.0.1:1"), EmbeddedServer(func(*server.Options) {})}},
		{"EmbeddedServer", []Option{Embedded(dir), EmbeddedServer(nil)}},
		{"Name", []Option{Embedded(dir), Name("")}},
		{"Name", []Option{Embedded(dir), Name("a.b")}},
		{"Name", []Option{Embedded(dir), Name(strings.Repeat("x", 33))}},
		{"Partitions", []Option{Embedded(dir), Partitions(0)}},
		{"Partitions", []Option{Embedded(dir), Partitions(1025)}},
		{"Replicas", []Option{Embedded(dir), Replicas(0)}},
		{"Replicas", []Option{Embedded(dir), Replicas(6)}},
		{"Instance", []Option{Embedded(dir), Instance("")}},
		{"Instance", []Option{Embedded(dir), Instance("a.b")}},
		{"LeaseTTL", []Option{Embedded(dir), LeaseTTL(100 * time.Millisecond)}},
		{"LeaseTTL", []Option{Embedded(dir), LeaseTTL(2 * time.Hour)}},
		{"MaxInHand", []Option{Embedded(dir), MaxInHand(0)}},
		{"MaxInHand", []Option{Embedded(dir), MaxInHand(1_000_001)}},
		{"DedupeWindow", []Option{Embedded(dir), DedupeWindow(time.Millisecond)}},
		{"DedupeWindow", []Option{Embedded(dir), DedupeWindow(2 * time.Hour), MaxAge(time.Hour)}},
		{"MaxAge", []Option{Embedded(dir), MaxAge(time.Second)}},
		{"MaxBytes", []Option{Embedded(dir), MaxBytes(1000)}},
		{"ReleaseWait", []Option{Embedded(dir), ReleaseWait(-time.Second)}},
		{"SyncInterval", []Option{Embedded(dir), SyncInterval(time.Millisecond)}},
		{"OpenTimeout", []Option{Embedded(dir), OpenTimeout(0)}},
		{"Logger", []Option{Embedded(dir), Logger(nil)}},
	}
	for _, c := range cases {
		s, err := Open(t.Context(), c.opts...)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != c.option {
			t.Errorf("%s: Open = %v, want an *OptionError for %s", c.option, err, c.option)
		}
		if s != nil {
			s.Close()
		}
	}
}

// TestBadInput: Put refuses update ids ≤ 0 and nil; Open of an unreachable
// URL fails within its timeout, naming the URL without credentials; a
// spool reopened with another partition count is refused.
func TestBadInput(t *testing.T) {
	leaktest.Check(t)
	dir := t.TempDir()
	s := open(t, Embedded(dir), Partitions(4))
	for _, u := range []*tg.Update{nil, {UpdateID: 0}, {UpdateID: -5}} {
		if err := s.Put(t.Context(), u); err == nil || !strings.Contains(err.Error(), "positive update_id") {
			t.Errorf("Put(%+v) = %v, want a positive update_id error", u, err)
		}
	}
	if err := s.Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), update(1, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	if err := s.Check(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Check after Close = %v, want ErrClosed", err)
	}
	if err := s.Consume(t.Context(), func(context.Context, *spool.Delivery) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Consume after Close = %v, want ErrClosed", err)
	}
	if _, _, err := s.Lead(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Lead after Close = %v, want ErrClosed", err)
	}

	_, err := Open(t.Context(), Embedded(dir), Partitions(8))
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Option != "Partitions" {
		t.Errorf("reopen with 8 partitions (created with 4) = %v, want an *OptionError for Partitions", err)
	}

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = Open(t.Context(), URL("nats://bot:secret@"+addr), OpenTimeout(3*time.Second))
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of an unreachable URL = %v, want an error naming %s without the password", err, addr)
	}
	if took > 4*time.Second {
		t.Errorf("Open of an unreachable URL took %v, more than its 3 s OpenTimeout", took)
	}
	t.Logf("unreachable URL: %v after %v", err, took.Round(time.Millisecond))
}

// TestMaxInHand: at no delivery does this instance hold more than
// MaxInHand undone deliveries, whatever the partitions; each Done lets
// the next one come, until all are delivered.
func TestMaxInHand(t *testing.T) {
	leaktest.Check(t)
	const max, n = 3, 40
	s := open(t, Embedded(t.TempDir()), Partitions(4), MaxInHand(max))
	var us []*tg.Update
	for i := range int64(n) {
		us = append(us, update(1+i, 1+i%10, 1+i/10))
	}
	putAll(t, s, us...)
	var mu sync.Mutex
	var held []*spool.Delivery
	delivered, over := 0, 0
	stop := consume(t, s, func(_ context.Context, d *spool.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		delivered++
		held = append(held, d)
		if len(held) > max {
			over++
		}
		return nil
	})
	for done := 0; done < n; {
		wait.Until(t, 10*time.Second, "MaxInHand deliveries in hand", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(held) == min(max, n-done)
		})
		mu.Lock()
		d := held[0]
		held = held[1:]
		mu.Unlock()
		d.Done(true)
		d.Done(true) // a second Done changes nothing
		done++
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if delivered != n || over > 0 {
		t.Fatalf("%d deliveries (want %d), %d of them beyond MaxInHand %d", delivered, n, over, max)
	}
}

// TestLead: one Lead holds the poll lease at a time; release hands it to
// a waiting Lead at once; Stats.Leading follows; Lead returns when its
// ctx ends.
func TestLead(t *testing.T) {
	leaktest.Check(t)
	dir := t.TempDir()
	a := open(t, Embedded(dir), Instance("a"))
	held, release, err := a.Lead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !a.Stats().Leading {
		t.Error("Stats.Leading false while holding the poll lease")
	}
	// A second Lead on the same spool waits.
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan error, 1)
	var release2 func()
	go func() {
		_, r, err := a.Lead(ctx)
		release2 = r
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a second Lead returned (%v) while the lease is held", err)
	default:
	}
	release()
	if held.Err() == nil {
		t.Error("held not done after release")
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting Lead did not get the released lease within 10 s")
	}
	release2()
	release2()
	cancel()
	ctx, cancel = context.WithCancel(t.Context())
	_, r, err := a.Lead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _, err := a.Lead(ctx); got <- err }()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("Lead after its ctx ended = %v, want context.Canceled", err)
	}
	r()
	if st := a.Stats(); st.Leading || st.LeaseChanges != 6 {
		t.Errorf("Stats = %+v, want not leading after 3 leases gained and released", st)
	}
}

// TestEmbeddedServerShared: EmbeddedServer fixes the embedded server's
// port, and a second instance connects to it with URL: what one puts the
// other consumes, and both count as instances.
func TestEmbeddedServerShared(t *testing.T) {
	leaktest.Check(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	a := open(t, Embedded(t.TempDir()), Instance("a"), EmbeddedServer(func(o *server.Options) { o.Port = port }))
	b := open(t, URL("nats://127.0.0.1:"+strconv.Itoa(port)), Instance("b"))
	r := newRecorder(nil)
	consume(t, a, r.deliver("a"))
	putAll(t, b, update(1, 1, 1), update(2, 1, 2))
	wait.Until(t, 10*time.Second, "b's updates consumed by a", func() bool { return r.has(1, 2) })
	checkOrder(t, r.snapshot())
	consume(t, b, r.deliver("b"))
	wait.Until(t, 10*time.Second, "two instances", func() bool { return a.Instances() == 2 && b.Instances() == 2 })
}
