package router

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tidygram/tidygram/tg"
)

func TestThrottle(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	var warned []int64
	th := NewThrottle(ThrottleConfig{Limit: 3, Window: time.Second, Now: clock.Now,
		OnLimit: func(c *Context) error { warned = append(warned, c.Sender().ID); return nil }})
	var handled []string
	h := th.Middleware()(func(c *Context) error { handled = append(handled, c.Text()); return nil })
	send := func(user int64, s string) {
		if err := h(NewContext(context.Background(), from(user, s), nil, "", nil)); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		advance time.Duration
		user    int64
		text    string
		passes  bool
	}{
		{0, 1, "a", true}, {0, 1, "b", true}, {0, 1, "c", true}, // a burst of Limit
		{0, 1, "d", false}, {0, 1, "e", false}, // over: dropped, one warning
		{0, 2, "other user", true},
		{333 * time.Millisecond, 1, "f", false}, // not quite a slot
		{time.Millisecond, 1, "g", true},        // Window/Limit later: one slot
		{0, 1, "h", false},
		{time.Second, 1, "i", true}, {0, 1, "j", true}, {0, 1, "k", true}, {0, 1, "l", false},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		handled = nil
		send(s.user, s.text)
		if passed := len(handled) == 1; passed != s.passes {
			t.Fatalf("step %d (%q): passed %v, want %v", i, s.text, passed, s.passes)
		}
	}
	// One warning per streak of drops: d (e and f follow it without a
	// pass between), h, l.
	if fmt.Sprint(warned) != "[1 1 1]" {
		t.Errorf("OnLimit for users %v, want [1 1 1] (d, h, l)", warned)
	}
	// Updates without a sender are not throttled.
	for range 10 {
		handled = nil
		if err := h(NewContext(context.Background(), &tg.Update{Poll: &tg.Poll{ID: "p"}}, nil, "", nil)); err != nil || len(handled) != 1 {
			t.Fatal("an update without a sender was throttled")
		}
	}
}

// The items of an album count as one update.
func TestThrottleAlbums(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	th := NewThrottle(ThrottleConfig{Limit: 1, Window: time.Second, Now: clock.Now})
	n := 0
	h := th.Middleware()(func(*Context) error { n++; return nil })
	item := func(group string) *tg.Update {
		u := from(1, "")
		u.Message.MediaGroupID = group
		u.Message.Photo = []tg.PhotoSize{{FileID: "p"}}
		return u
	}
	for range 10 {
		_ = h(NewContext(context.Background(), item("g1"), nil, "", nil))
	}
	_ = h(NewContext(context.Background(), item("g2"), nil, "", nil)) // another album at once: over
	if n != 10 {
		t.Fatalf("%d of 10 album items and another album passed, want the 10", n)
	}
}

// Memory is bounded: at most MaxKeys users are tracked, the least recently
// seen forgotten first, and a user still flooding is not.
func TestThrottleBounded(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	th := NewThrottle(ThrottleConfig{Limit: 1, Window: time.Hour, MaxKeys: 100, Now: clock.Now})
	if !th.Allow(-1) || th.Allow(-1) {
		t.Fatal("the spammer's first update must pass, the second not")
	}
	for i := range int64(100_000) {
		if !th.Allow(i) {
			t.Fatalf("user %d throttled on its first update", i)
		}
		if i%50 == 0 && th.Allow(-1) { // the spammer keeps trying: kept, still throttled
			t.Fatalf("spammer passed after %d other users", i)
		}
		if th.Len() > 100 {
			t.Fatalf("%d keys tracked, cap 100", th.Len())
		}
	}
	if th.Allow(0) != true { // long forgotten: starts afresh
		t.Error("an evicted user did not start afresh")
	}
}

func TestThrottleDefaultsAndErrors(t *testing.T) {
	th := NewThrottle(ThrottleConfig{})
	if th.cfg.Limit != DefaultThrottleLimit || th.cfg.Window != DefaultThrottleWindow || th.cfg.MaxKeys != DefaultThrottleKeys {
		t.Fatalf("defaults: %+v", th.cfg)
	}
	boom := errors.New("slow down")
	th = NewThrottle(ThrottleConfig{Limit: 1, Window: time.Hour, OnLimit: func(*Context) error { return boom }})
	h := th.Middleware()(func(*Context) error { return nil })
	c := NewContext(context.Background(), from(1, "x"), nil, "", nil)
	if err := h(c); err != nil {
		t.Fatal(err)
	}
	if err := h(c); !errors.Is(err, boom) {
		t.Fatalf("OnLimit's error not returned: %v", err)
	}
	if err := h(c); err != nil {
		t.Fatalf("second drop in a streak: %v", err)
	}
}
