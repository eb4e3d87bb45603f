package album

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/tg"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock hands out timers that fire only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	c      *fakeClock
	f      func()
	active bool
}

func (c *fakeClock) AfterFunc(_ time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = true
	return was
}

// fire runs every active timer's function, as if their time had come.
func (c *fakeClock) fire() {
	c.mu.Lock()
	var due []func()
	for _, t := range c.timers {
		if t.active {
			t.active = false
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// rec records what the collector hands on, and every Done.
type rec struct {
	mu     sync.Mutex
	albums [][]int64 // update ids per hand-off
	done   map[int64][]bool
	fail   bool
}

func (r *rec) submit(_ context.Context, key int64, parts []Part) error {
	r.mu.Lock()
	if r.fail {
		r.mu.Unlock()
		return errors.New("pool closed")
	}
	ids := make([]int64, len(parts))
	for i, p := range parts {
		ids[i] = p.Update.UpdateID
	}
	r.albums = append(r.albums, ids)
	r.mu.Unlock()
	for _, p := range parts {
		p.Done(true) // the album's task ran
	}
	return nil
}

func (r *rec) part(id, chat int64, group string) Part {
	u := &tg.Update{UpdateID: id, Message: &tg.Message{MessageID: id, Chat: tg.Chat{ID: chat}, MediaGroupID: group}}
	return Part{Update: u, Done: func(ok bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.done == nil {
			r.done = map[int64][]bool{}
		}
		r.done[id] = append(r.done[id], ok)
	}}
}

func (r *rec) handed() [][]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.albums)
}

type step struct {
	id, chat  int64
	group     string
	unordered bool
	fire      bool // fire the timers before this step (id 0: only that)
	wantTaken bool
}

func TestCollector(t *testing.T) {
	tests := []struct {
		name      string
		maxAlbums int
		steps     []step
		stop      bool
		want      [][]int64 // hand-offs in order (the caller's own submits not included)
	}{
		{"one album, due on its timer", 0, []step{
			{id: 1, chat: 7, group: "a", wantTaken: true}, {id: 2, chat: 7, group: "a", wantTaken: true}, {id: 3, chat: 7, group: "a", wantTaken: true},
			{fire: true},
		}, false, [][]int64{{1, 2, 3}}},
		{"a text after the album hands it on first", 0, []step{
			{id: 1, chat: 7, group: "a", wantTaken: true}, {id: 2, chat: 7, group: "a", wantTaken: true},
			{id: 3, chat: 7, group: "", wantTaken: false},
		}, false, [][]int64{{1, 2}}},
		{"a second album in the lane", 0, []step{
			{id: 1, chat: 7, group: "a", wantTaken: true}, {id: 2, chat: 7, group: "b", wantTaken: true}, {fire: true},
		}, false, [][]int64{{1}, {2}}},
		{"lanes collect apart", 0, []step{
			{id: 1, chat: 7, group: "a", wantTaken: true}, {id: 2, chat: 8, group: "a", wantTaken: true},
			{id: 3, chat: 7, group: "a", wantTaken: true}, {id: 4, chat: 9, group: "", wantTaken: false}, {fire: true},
		}, false, [][]int64{{1, 3}, {2}}},
		{"ten parts hand on at once, the eleventh starts anew", 0, append(partsOf(1, 10, 7, "a"),
			step{id: 11, chat: 7, group: "a", wantTaken: true}, step{fire: true}), false, [][]int64{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {11}}},
		{"unordered updates are not collected", 0, []step{{id: 1, chat: 7, group: "a", unordered: true, wantTaken: false}}, false, nil},
		{"over the cap parts go alone", 1, []step{
			{id: 1, chat: 7, group: "a", wantTaken: true}, {id: 2, chat: 8, group: "b", wantTaken: false}, {fire: true},
		}, false, [][]int64{{1}}},
		{"stop hands on what is held", 0, []step{
			{id: 1, chat: 7, group: "a", wantTaken: true}, {id: 2, chat: 8, group: "b", wantTaken: true},
		}, true, [][]int64{{1}, {2}}},
		{"a part after stop is not taken", 0, []step{{id: 1, chat: 7, group: "a", wantTaken: true}}, true, [][]int64{{1}}},
		{"a part late after its album was due starts a new one", 0, []step{
			{id: 1, chat: 7, group: "a", wantTaken: true}, {fire: true}, {id: 2, chat: 7, group: "a", wantTaken: true}, {fire: true},
		}, false, [][]int64{{1}, {2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &rec{}
			clock := &fakeClock{}
			c := New(context.Background(), Config{Submit: r.submit, AfterFunc: clock.AfterFunc, MaxAlbums: tt.maxAlbums})
			var offered []int64
			for _, s := range tt.steps {
				if s.fire {
					clock.fire()
					if s.id == 0 {
						continue
					}
				}
				p := r.part(s.id, s.chat, s.group)
				taken, err := c.Add(context.Background(), s.chat, s.unordered, p)
				if err != nil || taken != s.wantTaken {
					t.Fatalf("Add(%d): taken %v err %v, want taken %v", s.id, taken, err, s.wantTaken)
				}
				if !taken {
					p.Done(true) // the caller queued it itself
				}
				offered = append(offered, s.id)
			}
			if tt.stop {
				c.Stop(context.Background())
				if taken, _ := c.Add(context.Background(), 7, false, r.part(99, 7, "a")); taken {
					t.Fatal("Add took a part after Stop")
				}
			}
			got := r.handed()
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("handed on %v, want %v", got, tt.want)
			}
			for _, id := range offered {
				if d := r.done[id]; len(d) != 1 || !d[0] {
					t.Fatalf("update %d: Done calls %v, want one true", id, d)
				}
			}
			if n := c.Len(); n != 0 {
				t.Fatalf("%d albums still held", n)
			}
			c.Stop(context.Background())
		})
	}
}

func partsOf(from, to, chat int64, group string) []step {
	var out []step
	for id := from; id <= to; id++ {
		out = append(out, step{id: id, chat: chat, group: group, wantTaken: true})
	}
	return out
}

// TestHandOffFails: an album the pool refuses has every part's Done(false)
// called; the update that triggered the hand-off is left to its caller.
func TestHandOffFails(t *testing.T) {
	r := &rec{}
	clock := &fakeClock{}
	c := New(context.Background(), Config{Submit: r.submit, AfterFunc: clock.AfterFunc})
	for id := int64(1); id <= 2; id++ {
		if taken, err := c.Add(context.Background(), 7, false, r.part(id, 7, "a")); !taken || err != nil {
			t.Fatalf("Add(%d): %v %v", id, taken, err)
		}
	}
	r.fail = true
	taken, err := c.Add(context.Background(), 7, false, r.part(3, 7, ""))
	if taken || err == nil {
		t.Fatalf("Add after a failed hand-off: taken %v err %v", taken, err)
	}
	if fmt.Sprint(r.done[1], r.done[2], r.done[3]) != "[false] [false] []" {
		t.Fatalf("Done calls: %v %v %v", r.done[1], r.done[2], r.done[3])
	}
	// A timer's hand-off that fails does the same.
	c.Add(context.Background(), 8, false, r.part(4, 8, "b"))
	clock.fire()
	if fmt.Sprint(r.done[4]) != "[false]" {
		t.Fatalf("Done of a part whose album failed on its timer: %v", r.done[4])
	}
	c.Stop(context.Background())
}

// TestStopCancelsWaitingHandOff: a timer's hand-off waiting for room in a
// full pool is cancelled by Stop, which returns only after it ended.
func TestStopCancelsWaitingHandOff(t *testing.T) {
	entered := make(chan struct{})
	var done atomic.Int32
	c := New(context.Background(), Config{
		Wait: time.Millisecond,
		Submit: func(ctx context.Context, _ int64, _ []Part) error {
			close(entered)
			<-ctx.Done() // the pool is full
			return ctx.Err()
		},
	})
	u := &tg.Update{UpdateID: 1, Message: &tg.Message{Chat: tg.Chat{ID: 1}, MediaGroupID: "g"}}
	c.Add(context.Background(), 1, false, Part{Update: u, Done: func(ok bool) {
		if !ok {
			done.Add(1)
		}
	}})
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the album never came due")
	}
	c.Stop(context.Background())
	if done.Load() != 1 {
		t.Fatalf("Done(false) called %d times", done.Load())
	}
}

// TestRealTimers: with the real clock, parts sent together arrive as one
// album, every Done is called once, nothing outlives Stop (goleak).
func TestRealTimers(t *testing.T) {
	const chats, parts = 50, 4
	var mu sync.Mutex
	got := map[int64][][]int64{}
	var wrapped atomic.Int32
	c := New(context.Background(), Config{
		Wait: 200 * time.Millisecond,
		Wrap: func(fn func()) { wrapped.Add(1); fn() },
		Submit: func(_ context.Context, key int64, ps []Part) error {
			ids := make([]int64, len(ps))
			for i, p := range ps {
				ids[i] = p.Update.UpdateID
				p.Done(true)
			}
			mu.Lock()
			got[key] = append(got[key], ids)
			mu.Unlock()
			return nil
		},
	})
	var dones atomic.Int32
	var wg sync.WaitGroup
	for chat := int64(1); chat <= chats; chat++ {
		wg.Go(func() {
			for i := int64(0); i < parts; i++ {
				u := &tg.Update{UpdateID: chat*100 + i, Message: &tg.Message{Chat: tg.Chat{ID: chat}, MediaGroupID: fmt.Sprint("g", chat)}}
				if taken, err := c.Add(context.Background(), chat, false, Part{Update: u, Done: func(bool) { dones.Add(1) }}); !taken || err != nil {
					t.Errorf("Add: %v %v", taken, err)
				}
			}
		})
	}
	wg.Wait()
	wait.For(10*time.Second, func() bool { return dones.Load() >= chats*parts })
	c.Stop(context.Background())
	if dones.Load() != chats*parts {
		t.Fatalf("%d Done calls, want %d", dones.Load(), chats*parts)
	}
	for chat := int64(1); chat <= chats; chat++ {
		if a := got[chat]; len(a) != 1 || len(a[0]) != parts || a[0][0] != chat*100 {
			t.Fatalf("chat %d: albums %v", chat, a)
		}
	}
	if wrapped.Load() != chats {
		t.Fatalf("Wrap ran %d times, want %d", wrapped.Load(), chats)
	}
}
