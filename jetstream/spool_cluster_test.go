package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/jetstream/internal/natstest"
	"github.com/tidygram/tidygram/leak/leaktest"
)

// leader is one instance's Lead running in the background.
type leader struct {
	held    atomic.Bool
	release func()
	done    chan struct{}
	cancel  context.CancelFunc
}

func lead(t testing.TB, s *Spool) *leader {
	ctx, cancel := context.WithCancel(context.Background())
	l := &leader{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(l.done)
		held, release, err := s.Lead(ctx)
		if err != nil {
			return
		}
		l.release = release
		l.held.Store(true)
		<-held.Done()
		l.held.Store(false)
		release()
	}()
	t.Cleanup(func() { cancel(); <-l.done })
	return l
}

// puts puts updates from id on (chat = id mod chats, per-chat seq kept
// in seq) through s until stop, trying each again while Put fails (as a
// bot does); it returns the ids Put acknowledged.
type putter struct {
	mu    sync.Mutex
	seq   map[int64]int64
	acked []int64
	next  int64
	fails int // Puts that failed and were tried again
}

func (p *putter) put(ctx context.Context, s *Spool, n int, chats int64) error {
	for range n {
		p.mu.Lock()
		id := p.next
		p.next++
		chat := 1 + id%chats
		p.seq[chat]++
		u := update(id, chat, p.seq[chat])
		p.mu.Unlock()
		for {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := s.Put(pctx, u)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return err
			}
			p.mu.Lock()
			p.fails++
			p.mu.Unlock()
			time.Sleep(50 * time.Millisecond) // a bot's backoff; no outcome rests on it
		}
		p.mu.Lock()
		p.acked = append(p.acked, id)
		p.mu.Unlock()
	}
	return nil
}

func (p *putter) ackedIDs() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int64(nil), p.acked...)
}

// TestCluster runs three spool instances on a 3-node cluster with
// Replicas(3): partitions are balanced among them, exactly one holds the
// poll lease; a Close hands its partitions and the poll lease over at
// once, a crashed instance's (its connection cut) within LeaseTTL +
// LeaseTTL/3 + 1 s; a NATS node shut down mid-run loses nothing; per-chat
// order holds across every takeover.
func TestCluster(t *testing.T) {
	leaktest.Check(t)
	nodes := natstest.Cluster(t, 3)
	const P = 12
	const ttl = 2 * time.Second
	bound := ttl + ttl/3 + time.Second
	opts := func(id string) []Option {
		return []Option{URL(natstest.URLs(nodes...)), Replicas(3), Partitions(P), LeaseTTL(ttl), Instance(id), ReleaseWait(5 * time.Second), Logger(testLogger(t))}
	}
	names := []string{"a", "b", "c"}
	spools := map[string]*Spool{}
	leaders := map[string]*leader{}
	r := newRecorder(nil)
	for _, n := range names {
		spools[n] = open(t, opts(n)...)
	}
	for _, n := range names {
		consume(t, spools[n], r.deliver(n))
	}
	balanced := func(live ...string) func() bool {
		return func() bool {
			total := 0
			for _, n := range live {
				h := len(spools[n].held())
				if h == 0 || h > (P+len(live)-1)/len(live) {
					return false
				}
				total += h
			}
			return total == P
		}
	}
	wait.Until(t, 20*time.Second, "12 partitions balanced over a, b, c", balanced("a", "b", "c"))
	for _, n := range names {
		t.Logf("%s holds partitions %v; Instances() = %d", n, spools[n].held(), spools[n].Instances())
		if got := spools[n].Instances(); got != 3 {
			t.Errorf("%s: Instances() = %d, want 3", n, got)
		}
	}

	for _, n := range names {
		leaders[n] = lead(t, spools[n])
	}
	holder := func() (string, int) {
		who, count := "", 0
		for _, n := range names {
			if leaders[n].held.Load() {
				who = n
				count++
			}
		}
		return who, count
	}
	wait.Until(t, 10*time.Second, "one instance holds the poll lease", func() bool { _, c := holder(); return c == 1 })
	first, _ := holder()
	for _, n := range names {
		if got := spools[n].Stats().Leading; got != (n == first) {
			t.Errorf("%s: Stats().Leading = %v", n, got)
		}
	}

	// Updates put through one instance are delivered by all three.
	pu := &putter{seq: map[int64]int64{}, next: 1}
	if err := pu.put(t.Context(), spools["a"], 300, 30); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 30*time.Second, "300 updates delivered", func() bool { return r.has(pu.ackedIDs()...) })
	by := map[string]int{}
	for _, g := range r.snapshot() {
		by[g.instance]++
	}
	t.Logf("deliveries by instance: %v", by)
	for _, n := range names {
		if by[n] == 0 {
			t.Errorf("%s delivered nothing", n)
		}
	}

	// Clean stop of the poll lease holder, while updates keep coming.
	others := []string{}
	for _, n := range names {
		if n != first {
			others = append(others, n)
		}
	}
	putCtx, stopPuts := context.WithCancel(t.Context())
	putDone := make(chan error, 1)
	go func() { putDone <- pu.put(putCtx, spools[others[0]], 1_000_000, 30) }()
	start := time.Now()
	if err := spools[first].Close(); err != nil {
		t.Errorf("Close %s: %v", first, err)
	}
	wait.Until(t, bound, "the closed instance's partitions and poll lease taken over", func() bool {
		_, c := holder()
		return c == 1 && balanced(others...)()
	})
	t.Logf("clean stop of %s: partitions and poll lease taken over in %v (bound %v)", first, time.Since(start).Round(time.Millisecond), bound)
	second, _ := holder()

	// A crash: the poll lease holder's connection is cut; its leases expire.
	var last string
	for _, n := range others {
		if n != second {
			last = n
		}
	}
	if last != others[0] { // the putter must not use the instance cut next
		stopPuts()
		<-putDone
		putCtx, stopPuts = context.WithCancel(t.Context())
		putDone = make(chan error, 1)
		go func() { putDone <- pu.put(putCtx, spools[last], 1_000_000, 30) }()
	}
	start = time.Now()
	spools[second].Conn().Close()
	wait.Until(t, bound+ttl, "the cut instance's partitions and poll lease taken over", func() bool {
		return leaders[last].held.Load() && len(spools[last].held()) == P
	})
	took := time.Since(start)
	t.Logf("connection of %s cut: partitions and poll lease taken over in %v (bound %v)", second, took.Round(time.Millisecond), bound)
	if took > bound {
		t.Errorf("takeover after a crash took %v, more than LeaseTTL + LeaseTTL/3 + 1 s = %v", took, bound)
	}
	if leaders[second].held.Load() {
		t.Errorf("%s still believes it holds the poll lease", second)
	}
	_ = spools[second].Close() // its connection is gone: errors expected

	// A NATS node down mid-run: with R3 nothing is lost.
	si, err := spools[last].stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		if si.Cluster != nil && nd.Name() == si.Cluster.Leader {
			t.Logf("shutting down %s, the stream's leader", nd.Name())
			nd.Shutdown()
		}
	}
	n0 := len(pu.ackedIDs())
	wait.Until(t, 30*time.Second, "200 more updates acknowledged with a node down", func() bool { return len(pu.ackedIDs()) >= n0+200 })
	stopPuts()
	<-putDone
	acked := pu.ackedIDs()
	if !wait.For(30*time.Second, func() bool { return r.has(acked...) }) {
		var missing []string
		for _, id := range acked {
			if !r.has(id) {
				u := update(id, 1+id%30, 0)
				missing = append(missing, fmt.Sprintf("%d(p%d)", id, spools[last].partitionOf(u)))
			}
		}
		sp := spools[last]
		sp.mu.Lock()
		view := fmt.Sprint(sp.keys)
		sp.mu.Unlock()
		keys, kerr := sp.leases.Keys(t.Context())
		t.Fatalf("not all %d acknowledged updates delivered within 30 s; %d missing: %v; %s holds %v; view %s; keys %v %v", len(acked), len(missing), missing[:min(len(missing), 20)], last, sp.held(), view, keys, kerr)
	}
	all := r.snapshot()
	checkOrder(t, all)
	re := 0
	for _, g := range all {
		if g.redelivered {
			re++
		}
	}
	t.Logf("%d updates acknowledged (%d Puts failed and were tried again), %d deliveries (%d flagged Redelivered), 0 lost", len(acked), pu.fails, len(all), re)
}
