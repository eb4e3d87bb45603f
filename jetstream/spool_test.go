package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// update is update id in chat, the chat's seq-th message.
func update(id, chat, seq int64) *tg.Update {
	return &tg.Update{UpdateID: id, Message: &tg.Message{MessageID: seq, Chat: tg.Chat{ID: chat, Type: "private"}, Text: fmt.Sprint("m", seq)}}
}

// testLogger logs to t's output (shown with -v or when t fails).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func open(t testing.TB, opts ...Option) *Spool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// got is one delivery as a test saw it.
type got struct {
	instance    string
	id, chat    int64
	seq         int64
	redelivered bool
}

// recorder records deliveries; done decides each one's Done: true, false,
// or hold (never called by the recorder).
type recorder struct {
	mu   sync.Mutex
	all  []got
	byID map[int64]int // deliveries per update id
	held []*spool.Delivery
	done func(id int64) (handled, call bool)
	wake chan struct{}
}

func newRecorder(done func(id int64) (handled, call bool)) *recorder {
	if done == nil {
		done = func(int64) (bool, bool) { return true, true }
	}
	return &recorder{byID: map[int64]int{}, done: done, wake: make(chan struct{}, 1)}
}

func (r *recorder) deliver(instance string) func(context.Context, *spool.Delivery) error {
	return func(ctx context.Context, d *spool.Delivery) error {
		u := d.Update
		r.mu.Lock()
		r.all = append(r.all, got{instance: instance, id: u.UpdateID, chat: u.Message.Chat.ID, seq: u.Message.MessageID, redelivered: d.Redelivered})
		r.byID[u.UpdateID]++
		handled, call := r.done(u.UpdateID)
		if !call {
			r.held = append(r.held, d)
		}
		r.mu.Unlock()
		if call {
			go d.Done(handled) // as a worker would, later
		}
		select {
		case r.wake <- struct{}{}:
		default:
		}
		return nil
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

func (r *recorder) has(ids ...int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.byID[id] == 0 {
			return false
		}
	}
	return true
}

func (r *recorder) snapshot() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all)
}

// checkOrder fails t if a chat's first-time deliveries go back in its
// sequence: a lower seq after a higher one is allowed only when flagged
// Redelivered.
func checkOrder(t testing.TB, all []got) {
	t.Helper()
	last := map[int64]int64{}
	for _, g := range all {
		if g.seq < last[g.chat] && !g.redelivered {
			t.Errorf("chat %d: seq %d (update %d, %s) after %d, not flagged Redelivered", g.chat, g.seq, g.id, g.instance, last[g.chat])
		}
		last[g.chat] = max(last[g.chat], g.seq)
	}
}

// consume runs s.Consume(deliver) until the returned stop is called; stop
// returns Consume's error.
func consume(t testing.TB, s *Spool, deliver func(context.Context, *spool.Delivery) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Consume(ctx, deliver) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				err = errors.New("Consume did not return within 20 s of its ctx's end")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// sentinels returns, for each partition of n, an update id (from base up)
// in a chat that lands in it, so that a test knows a partition has been
// read to its end once its sentinel came.
func sentinels(n int, base int64) []*tg.Update {
	out := make([]*tg.Update, n)
	found := 0
	for chat := int64(1_000_000); found < n; chat++ {
		p := partitionOf(chat, n)
		if out[p] == nil {
			out[p] = update(base+int64(found), chat, 1)
			found++
		}
	}
	return out
}

func putAll(t testing.TB, s *Spool, us ...*tg.Update) {
	t.Helper()
	for _, u := range us {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := s.Put(ctx, u)
		cancel()
		if err != nil {
			t.Fatalf("Put %d: %v", u.UpdateID, err)
		}
	}
}

func ids(us []*tg.Update) []int64 {
	out := make([]int64, len(us))
	for i, u := range us {
		out[i] = u.UpdateID
	}
	return out
}

// TestSingleNode: Put N updates on an embedded server (one twice), every
// one is delivered once in per-chat order; done ones are never delivered
// again after a reopen on the same directory; Done(false) and never-done
// ones (and the done ones after them in their partition) come again
// flagged Redelivered; after Close no goroutine is left.
func TestSingleNode(t *testing.T) {
	leaktest.Check(t)
	dir := t.TempDir()
	const P, N, chats = 8, 400, 20
	opts := []Option{Embedded(dir), Partitions(P), Instance("one")}

	var us []*tg.Update
	seq := map[int64]int64{}
	for i := range int64(N) {
		chat := 1 + i%chats
		seq[chat]++
		us = append(us, update(100+i, chat, seq[chat]))
	}

	// Round 1: all done.
	s := open(t, opts...)
	putAll(t, s, us...)
	putAll(t, s, us[7], us[8]) // stored once
	if err := s.lookStream(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if d := s.Stats().Depth; d != N {
		t.Fatalf("stream holds %d messages, want %d (the same update_id put twice is stored once)", d, N)
	}
	r := newRecorder(nil)
	stop := consume(t, s, r.deliver("one"))
	wait.Until(t, 20*time.Second, "all delivered", func() bool { return r.has(ids(us)...) })
	wait.Until(t, 10*time.Second, "watermarks at the end", func() bool { return s.committedAll() })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	all := r.snapshot()
	if len(all) != N {
		t.Fatalf("%d deliveries, want %d", len(all), N)
	}
	for _, g := range all {
		if g.redelivered {
			t.Errorf("update %d flagged Redelivered on its first delivery", g.id)
		}
	}
	checkOrder(t, all)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Round 2: reopen; nothing comes again. One sentinel per partition
	// marks each partition's end.
	s = open(t, opts...)
	sent := sentinels(P, 10_000)
	putAll(t, s, sent...)
	more := make([]*tg.Update, 0, 40)
	for i := range int64(40) {
		chat := 1 + i%chats
		seq[chat]++
		more = append(more, update(1000+i, chat, seq[chat]))
	}
	putAll(t, s, more...)
	failIDs := map[int64]bool{more[3].UpdateID: true, more[4].UpdateID: true} // Done(false)
	holdIDs := map[int64]bool{more[10].UpdateID: true}                        // never Done
	r2 := newRecorder(func(id int64) (bool, bool) {
		switch {
		case failIDs[id]:
			return false, true
		case holdIDs[id]:
			return false, false
		}
		return true, true
	})
	stop = consume(t, s, r2.deliver("one"))
	wait.Until(t, 20*time.Second, "sentinels and new updates delivered", func() bool { return r2.has(ids(sent)...) && r2.has(ids(more)...) })
	for _, g := range r2.snapshot() {
		if g.id < 1000 {
			t.Errorf("update %d delivered again after it was done", g.id)
		}
	}
	if n := r2.count(); n != P+len(more) {
		t.Errorf("%d deliveries after reopen, want %d", n, P+len(more))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Round 3: the undone ones come again, flagged.
	s = open(t, opts...)
	sent3 := sentinels(P, 20_000)
	putAll(t, s, sent3...)
	r3 := newRecorder(nil)
	stop = consume(t, s, r3.deliver("one"))
	wait.Until(t, 20*time.Second, "sentinels delivered", func() bool { return r3.has(ids(sent3)...) })
	again := map[int64]got{}
	for _, g := range r3.snapshot() {
		if g.id >= 20_000 {
			if g.redelivered {
				t.Errorf("sentinel %d flagged Redelivered", g.id)
			}
			continue
		}
		again[g.id] = g
		if !g.redelivered {
			t.Errorf("update %d delivered again without Redelivered", g.id)
		}
	}
	for id := range failIDs {
		if _, ok := again[id]; !ok {
			t.Errorf("update %d (Done(false)) not delivered again", id)
		}
	}
	for id := range holdIDs {
		if _, ok := again[id]; !ok {
			t.Errorf("update %d (never Done) not delivered again", id)
		}
	}
	// Only updates of the undone ones' partitions, at or after them, come again.
	firstUndone := map[int]int64{}
	for _, u := range more {
		if failIDs[u.UpdateID] || holdIDs[u.UpdateID] {
			p := s.partitionOf(u)
			if _, ok := firstUndone[p]; !ok {
				firstUndone[p] = u.UpdateID
			}
		}
	}
	for id := range again {
		u := more[id-1000]
		if f, ok := firstUndone[s.partitionOf(u)]; !ok || id < f {
			t.Errorf("update %d delivered again, but nothing before it in its partition was left undone", id)
		}
	}
	checkOrder(t, r3.snapshot())
	if st := s.Stats(); st.Redelivered != int64(len(again)) {
		t.Errorf("Stats.Redelivered = %d, want %d", st.Redelivered, len(again))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Done of the held delivery after Consume returned, before Close.
	r2.mu.Lock()
	for _, d := range r2.held {
		d.Done(true)
	}
	r2.mu.Unlock()
}

// committedAll reports whether every held partition's committed
// watermark is its last read and nothing is in hand.
func (s *Spool) committedAll() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.parts) == 0 {
		return false
	}
	for _, p := range s.parts {
		p.mu.Lock()
		ok := p.inflight == 0 && p.head == len(p.queue) && p.committedWM == p.lastRead
		p.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// held returns the partitions s holds and reads.
func (s *Spool) held() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for n, p := range s.parts {
		p.mu.Lock()
		if !p.releasing && p.lease.held() {
			out = append(out, n)
		}
		p.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

// TestStreamDeleted: Consume returns an error once the stream is gone,
// and Check reports it.
func TestStreamDeleted(t *testing.T) {
	leaktest.Check(t)
	s := open(t, Embedded(t.TempDir()), Partitions(2))
	r := newRecorder(nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Consume(ctx, r.deliver("one")) }()
	putAll(t, s, update(1, 1, 1))
	wait.Until(t, 10*time.Second, "delivered", func() bool { return r.has(1) })
	if err := s.JetStream().DeleteStream(t.Context(), DefaultName); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "stream") {
			t.Errorf("Consume = %v, want an error about the stream", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return within 10 s of the stream's deletion")
	}
	if err := s.Check(t.Context()); err == nil {
		t.Error("Check = nil with the stream deleted")
	}
}
