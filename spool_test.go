package tidygram_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/spool/spooltest"
	"github.com/tidygram/tidygram/tg"
)

// With a spool, updates are confirmed to Telegram once the spool holds
// them: a chat whose handler is stuck holds back no other chat, however
// many updates arrive (without a spool, Telegram's 100-update window
// stops the bot after 99 others: TestStuckChatDoesNotHoldOthers), and its
// own updates then run in order.
func TestSpoolLiftsTheWindow(t *testing.T) {
	srv := emulator(t)
	mem := spooltest.New()
	b := newBot(t, srv, tidygram.WithSpool(mem), tidygram.WithHandlerTimeout(time.Minute))
	release := make(chan struct{})
	stuck := make(chan struct{})
	var (
		handled atomic.Int64
		mu      sync.Mutex
		order   []int
	)
	b.Handle("stuck", router.TextEquals("stuck"), func(c *tidygram.Context) error {
		close(stuck)
		select {
		case <-release:
		case <-c.Done():
		}
		return nil
	})
	b.OnText(func(c *tidygram.Context) error {
		if c.Update.Message.Chat.ID == 1 {
			n, _ := strconv.Atoi(c.Update.Message.Text)
			mu.Lock()
			order = append(order, n)
			mu.Unlock()
		}
		handled.Add(1)
		return nil
	})
	r := start(t, b)
	pushText(t, srv, 1, "stuck")
	<-stuck
	const others, own = 300, 50
	for i := range others {
		pushText(t, srv, int64(10+i%20), "x")
	}
	for i := range own {
		pushText(t, srv, 1, strconv.Itoa(i))
	}
	eventually(t, 20*time.Second, "every update of the other chats handled while one chat is stuck", func() bool { return handled.Load() == others })
	eventually(t, 20*time.Second, "every update confirmed to Telegram while one chat is stuck", func() bool { return srv.Pending() == 0 })
	if n := mem.Len(); n != own+1 {
		t.Fatalf("spool holds %d updates, want the stuck one and the %d behind it", n, own)
	}
	close(release)
	eventually(t, 20*time.Second, "the stuck chat's updates handled", func() bool { return handled.Load() == others+own })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for i, n := range order {
		if n != i {
			t.Fatalf("chat 1 handled out of order: %v", order)
		}
	}
	if n := mem.Len(); n != 0 {
		t.Fatalf("spool holds %d updates after all were handled", n)
	}
}

// An update the bot did not finish before it stopped (cut off at the end
// of the drain period, or queued behind it) is not lost with a spool even
// though Telegram was told it was received: the next run gets it again,
// flagged Redelivered; updates handled once are not.
func TestSpoolRedeliversWhatWasNotDone(t *testing.T) {
	srv := emulator(t)
	mem := spooltest.New()
	first := newBot(t, srv, tidygram.WithSpool(mem), tidygram.WithDrainTimeout(100*time.Millisecond))
	blocked := make(chan struct{})
	var firstDone atomic.Int64
	first.Handle("block", router.TextEquals("block"), func(c *tidygram.Context) error {
		close(blocked)
		<-c.Done() // cut off at stop
		return c.Err()
	})
	first.OnText(func(c *tidygram.Context) error { firstDone.Add(1); return nil })
	r := start(t, first)
	pushText(t, srv, 2, "early")
	eventually(t, 10*time.Second, "first update handled", func() bool { return firstDone.Load() == 1 })
	pushText(t, srv, 2, "block")
	<-blocked
	for i := range 5 {
		pushText(t, srv, 2, "after-"+strconv.Itoa(i))
	}
	eventually(t, 10*time.Second, "everything confirmed to Telegram", func() bool { return srv.Pending() == 0 && mem.Len() == 6 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := mem.Len(); n != 6 {
		t.Fatalf("spool holds %d updates after the stop, want the cut-off one and the 5 behind it", n)
	}

	second := newBot(t, srv, tidygram.WithSpool(mem))
	var (
		mu    sync.Mutex
		texts []string
		redel []bool
	)
	second.OnText(func(c *tidygram.Context) error {
		mu.Lock()
		defer mu.Unlock()
		texts = append(texts, c.Update.Message.Text)
		redel = append(redel, c.Redelivered)
		return nil
	})
	r = start(t, second)
	eventually(t, 10*time.Second, "the 6 updates handled again", func() bool { return mem.Len() == 0 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{"block", "after-0", "after-1", "after-2", "after-3", "after-4"}
	if len(texts) != len(want) {
		t.Fatalf("second run handled %q, want %q", texts, want)
	}
	for i := range want {
		if texts[i] != want[i] {
			t.Fatalf("second run handled %q, want %q", texts, want)
		}
	}
	if !redel[0] {
		t.Fatal("the cut-off update came again without Redelivered")
	}
	if firstDone.Load() != 1 {
		t.Fatalf("first run handled %d plain updates, want 1", firstDone.Load())
	}
}

// Two bots sharing one spool that has a poll lease: exactly one polls at a
// time (the emulator answers a second concurrent getUpdates with 409, which
// would end a Run with ErrOtherPoller and fail the test), every update is
// handled once, and when the polling bot stops the other takes over.
func TestSpoolLeaseLetsOneInstancePoll(t *testing.T) {
	srv := emulator(t)
	mem := spooltest.New()
	var handled atomic.Int64
	bots := make([]*running, 2)
	for i := range bots {
		b := newBot(t, srv, tidygram.WithSpool(mem))
		b.OnText(func(c *tidygram.Context) error { handled.Add(1); return nil })
		bots[i] = start(t, b)
	}
	for i := range 100 {
		pushText(t, srv, int64(1+i%7), "x")
	}
	eventually(t, 20*time.Second, "100 updates handled", func() bool { return handled.Load() == 100 })
	if !mem.Stats().Leading {
		t.Fatal("nobody holds the poll lease while both bots run")
	}
	if err := bots[0].stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		pushText(t, srv, int64(1+i%7), "y")
	}
	eventually(t, 20*time.Second, "50 more handled by the bot left", func() bool { return handled.Load() == 150 })
	if err := bots[1].stop(); err != nil {
		t.Fatal(err)
	}
	if n := mem.Len(); n != 0 {
		t.Fatalf("spool holds %d updates", n)
	}
	if mem.Stats().Leading {
		t.Fatal("the poll lease is still held after both bots stopped")
	}
}

// flakyAsyncSpool is an in-memory spool with asynchronous puts whose first
// put of every chat fails (an acknowledgement lost), as a spool may while a
// node is lost.
type flakyAsyncSpool struct {
	*spooltest.Memory
	mu     sync.Mutex
	failed map[int64]bool
}

func (f *flakyAsyncSpool) PutAsync(ctx context.Context, u *tg.Update, stored func(error)) error {
	f.mu.Lock()
	chat := u.Message.Chat.ID
	first := !f.failed[chat]
	f.failed[chat] = true
	f.mu.Unlock()
	go func() {
		if first {
			stored(errors.New("no acknowledgement"))
			return
		}
		stored(f.Put(ctx, u))
	}()
	return nil
}

// A put that fails and is tried again never lands behind a later update of
// its chat: the bot hands a chat's next update to an asynchronous spool
// only once the previous one is stored, so handlers see every chat's
// updates in order although each chat's first put failed.
func TestAsyncSpoolKeepsChatOrderWhenAPutFails(t *testing.T) {
	srv := emulator(t)
	sp := &flakyAsyncSpool{Memory: spooltest.New(), failed: map[int64]bool{}}
	b := newBot(t, srv, tidygram.WithSpool(sp), tidygram.WithBackoff(time.Millisecond, 10*time.Millisecond))
	var (
		mu      sync.Mutex
		got     = map[int64][]int{}
		handled atomic.Int64
	)
	b.OnText(func(c *tidygram.Context) error {
		n, _ := strconv.Atoi(c.Text())
		mu.Lock()
		got[c.Chat().ID] = append(got[c.Chat().ID], n)
		mu.Unlock()
		handled.Add(1)
		return nil
	})
	r := start(t, b)
	const chats, each = 20, 5
	for i := range each {
		for c := range chats {
			pushText(t, srv, int64(100+c), strconv.Itoa(i))
		}
	}
	eventually(t, 20*time.Second, "every update handled", func() bool { return handled.Load() == chats*each })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for chat, seq := range got {
		for i, n := range seq {
			if n != i {
				t.Fatalf("chat %d handled %v, want 0..%d in order", chat, seq, each-1)
			}
		}
	}
}
