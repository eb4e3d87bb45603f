package router

import (
	"sync"
	"time"
)

// Throttle defaults.
const (
	// DefaultThrottleLimit and DefaultThrottleWindow: 3 updates a second
	// per user.
	DefaultThrottleLimit  = 3
	DefaultThrottleWindow = time.Second
	// DefaultThrottleKeys is how many users a Throttle tracks at most.
	DefaultThrottleKeys = 10_000
)

// ThrottleConfig configures a Throttle; zero fields take the defaults.
type ThrottleConfig struct {
	// Limit updates per Window pass for each key (default
	// DefaultThrottleLimit per DefaultThrottleWindow). The rate is smooth
	// (GCRA): a burst of Limit passes, then one more every Window/Limit.
	// Updates dropped do not count.
	Limit  int
	Window time.Duration
	// MaxKeys bounds the keys tracked (default DefaultThrottleKeys): when
	// a new key would exceed it, the least recently seen key is forgotten,
	// and starts afresh if it comes back. About 100 bytes per key.
	MaxKeys int
	// Key returns the key an update counts against and whether to throttle
	// it at all (default: the sender's user id; updates without a sender
	// pass).
	Key func(c *Context) (key int64, ok bool)
	// OnLimit is called with the first update a key has dropped since it
	// last passed (so a flood gets one answer, not one per update), on the
	// handler's goroutine; its error is the update's. nil: dropped
	// silently.
	OnLimit func(c *Context) error
	// Now is the clock (default time.Now); tests move it by hand.
	Now func() time.Time
}

// Throttle limits how many updates each user may have handled, for spam
// protection (grammY's ratelimiter): as outer middleware it drops a
// user's updates over the limit before routing, so a flood costs a map
// lookup, not a handler. Nothing throttles incoming updates unless a bot
// installs one:
//
//	r.UseOuter(router.NewThrottle(router.ThrottleConfig{Limit: 5, Window: 2 * time.Second}).Middleware())
//
// A dropped update counts as handled (it is confirmed, not redelivered).
// The items of an album (updates with the same media_group_id, up to 10
// at once) count as one. Memory is bounded by MaxKeys; no goroutine runs,
// expired state is overwritten when its key comes back or evicted when
// room is needed. A Throttle is safe for concurrent use; share one between
// bots to throttle a user across them.
type Throttle struct {
	cfg      ThrottleConfig
	interval int64 // ns between two updates at the steady rate
	window   int64

	mu         sync.Mutex
	keys       map[int64]*throttled
	head, tail *throttled // most and least recently seen
}

// throttled is the state of one key, in the recency list.
type throttled struct {
	key        int64
	tat        int64  // GCRA theoretical arrival time, Unix ns
	group      string // media_group_id of the album that last passed
	warned     bool   // OnLimit was called since the last update passed
	prev, next *throttled
}

// NewThrottle returns a Throttle configured by cfg.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultThrottleLimit
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultThrottleWindow
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultThrottleKeys
	}
	if cfg.Key == nil {
		cfg.Key = senderKey
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{
		cfg:      cfg,
		window:   int64(cfg.Window),
		interval: max(int64(cfg.Window)/int64(cfg.Limit), 1),
		keys:     make(map[int64]*throttled),
	}
}

func senderKey(c *Context) (int64, bool) {
	if u := c.Sender(); u != nil {
		return u.ID, true
	}
	return 0, false
}

// Middleware returns the middleware that drops updates over the limit.
// Install it with UseOuter to drop them before routing.
func (t *Throttle) Middleware() Middleware {
	return func(next Handler) Handler {
		return func(c *Context) error {
			key, ok := t.cfg.Key(c)
			if !ok {
				return next(c)
			}
			group := ""
			if m := c.Message(); m != nil {
				group = m.MediaGroupID
			}
			pass, warn := t.take(key, group)
			switch {
			case pass:
				return next(c)
			case warn && t.cfg.OnLimit != nil:
				return t.cfg.OnLimit(c)
			}
			return nil
		}
	}
}

// Allow reports whether one more update of key passes now, and counts it
// if so.
func (t *Throttle) Allow(key int64) bool {
	pass, _ := t.take(key, "")
	return pass
}

// take counts an update of key (of album group, if not "") and reports
// whether it passes, and if not whether it is the first dropped since the
// key last passed.
func (t *Throttle) take(key int64, group string) (pass, firstDrop bool) {
	now := t.cfg.Now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.keys[key]
	if e == nil {
		e = t.add(key)
		e.tat = now
	} else {
		t.touch(e)
	}
	if group != "" && group == e.group {
		return true, false // the rest of an album that passed
	}
	tat := max(e.tat, now) + t.interval
	if tat-now > t.window {
		first := !e.warned
		e.warned = true
		return false, first
	}
	e.tat, e.group, e.warned = tat, group, false
	return true, false
}

// add inserts key at the head, evicting the least recently seen key when
// full.
func (t *Throttle) add(key int64) *throttled {
	var e *throttled
	if len(t.keys) >= t.cfg.MaxKeys {
		e = t.tail
		t.unlink(e)
		delete(t.keys, e.key)
		*e = throttled{}
	} else {
		e = new(throttled)
	}
	e.key = key
	t.keys[key] = e
	t.pushFront(e)
	return e
}

func (t *Throttle) touch(e *throttled) {
	if t.head == e {
		return
	}
	t.unlink(e)
	t.pushFront(e)
}

func (t *Throttle) unlink(e *throttled) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (t *Throttle) pushFront(e *throttled) {
	e.next = t.head
	if t.head != nil {
		t.head.prev = e
	}
	t.head = e
	if t.tail == nil {
		t.tail = e
	}
}

// Len returns the number of keys tracked (at most MaxKeys).
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}
