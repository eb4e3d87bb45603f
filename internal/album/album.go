// Package album collects the parts of a media group (an album: updates
// with the same media_group_id in the same chat) before dispatch, so that
// one handler gets the whole album instead of each part queueing behind a
// handler that waits for the rest in the same per-chat lane.
//
// A Collector sits between a source and the worker pool. Each lane (chat)
// holds at most one album being collected; it is handed on (Config.Submit)
// Wait after its last part arrived, as soon as it has MaxParts parts, when
// another update of the same lane arrives (so the chat's order holds: the
// album goes first), or at Stop. It starts no goroutine of its own: a
// collected album waits on a time.AfterFunc timer, whose function runs
// (through Config.Wrap, for labels) only when the album is due. Memory is
// bounded: at most MaxAlbums albums of at most MaxParts parts.
//
// Every part's Done is called exactly once: by the album's task once its
// handler ended (Config.Submit passes it on), or with false when the album
// could not be handed on (the pool stopped, ctx ended): such parts stay
// unconfirmed and come again.
package album

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tidygram/tidygram/tg"
)

// Defaults of Config.
const (
	// DefaultWait is how long an album waits for its next part (500 ms
	// after the last one). Telegram sends an album's parts together, one
	// update each, usually in the same getUpdates answer.
	DefaultWait = 500 * time.Millisecond
	// MaxParts is the most parts of an album (Telegram's limit: 10).
	MaxParts = 10
	// DefaultMaxAlbums bounds the albums collected at once (1000). Past it,
	// parts of a new album are handed on one by one, uncollected.
	DefaultMaxAlbums = 1000
)

// Part is one update of an album and what its source needs to hear.
type Part struct {
	Update      *tg.Update
	Done        func(handled bool) // called exactly once
	Redelivered bool               // a spool may have delivered it before
}

// Timer is the part of *time.Timer the Collector uses.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// Config configures a Collector; Submit is required.
type Config struct {
	// Submit hands a collected album (1 to MaxParts parts of lane key, in
	// arrival order) to the pool, blocking while it is full; it returns an
	// error (and calls no Done) when the album cannot be queued: the
	// Collector then calls every part's Done(false).
	Submit    func(ctx context.Context, key int64, parts []Part) error
	Wait      time.Duration // DefaultWait when 0
	MaxAlbums int           // DefaultMaxAlbums when 0
	// Wrap runs fn, the hand-off of an album that came due on its timer
	// (e.g. under the bot's labels); nil runs it as is.
	Wrap func(fn func())
	// AfterFunc starts a timer (tests inject a clock); time.AfterFunc when
	// nil.
	AfterFunc func(d time.Duration, f func()) Timer
}

// Collector collects albums; see the package doc. Its methods are safe
// for concurrent use.
type Collector struct {
	cfg    Config
	ctx    context.Context // for hand-offs on timers; cancelled by Stop
	cancel context.CancelFunc

	mu      sync.Mutex
	lanes   map[int64]*collecting
	stopped bool
	firing  sync.WaitGroup // hand-offs started by timers
}

// collecting is one album being collected.
type collecting struct {
	key   int64
	group string
	parts []Part
	timer Timer
}

// New returns a Collector whose timer hand-offs use ctx (values and
// cancellation; Stop cancels a derived context too).
func New(ctx context.Context, cfg Config) *Collector {
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.MaxAlbums <= 0 {
		cfg.MaxAlbums = DefaultMaxAlbums
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
	}
	if cfg.Wrap == nil {
		cfg.Wrap = func(fn func()) { fn() }
	}
	c := &Collector{cfg: cfg, lanes: make(map[int64]*collecting)}
	c.ctx, c.cancel = context.WithCancel(ctx)
	return c
}

// GroupID returns the media_group_id of u's new message (message,
// channel post or business message: tg.Update.NewMessage), "" when u is
// not part of an album.
func GroupID(u *tg.Update) string {
	if m := u.NewMessage(); m != nil {
		return m.MediaGroupID
	}
	return ""
}

// Add offers p, an update of lane key (unordered: it has no lane), before
// it is queued. taken true: p is part of an album being collected and its
// Done will be called by the album. taken false: the caller queues p
// itself — after Add handed on the album its lane was collecting, so that
// the lane's order holds. An error (the album ahead of p could not be
// queued: the pool stopped or ctx ended) leaves p to the caller, not
// taken; its source is stopping. After Stop, Add takes nothing.
func (c *Collector) Add(ctx context.Context, key int64, unordered bool, p Part) (taken bool, err error) {
	group := ""
	if !unordered {
		group = GroupID(p.Update)
	}
	for {
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			return false, nil
		}
		cur := c.lanes[key]
		if cur != nil && group != "" && cur.group == group && len(cur.parts) < MaxParts {
			cur.parts = append(cur.parts, p)
			if len(cur.parts) < MaxParts {
				cur.timer.Reset(c.cfg.Wait)
				c.mu.Unlock()
				return true, nil
			}
			c.takeLocked(cur) // full: hand it on now
			c.mu.Unlock()
			return true, c.handOff(ctx, cur)
		}
		if cur != nil {
			// Another update of the lane: the album goes first.
			c.takeLocked(cur)
			c.mu.Unlock()
			if err := c.handOff(ctx, cur); err != nil {
				return false, err
			}
			continue
		}
		if group == "" || len(c.lanes) >= c.cfg.MaxAlbums {
			c.mu.Unlock()
			return false, nil
		}
		a := &collecting{key: key, group: group, parts: make([]Part, 1, 4)}
		a.parts[0] = p
		a.timer = c.cfg.AfterFunc(c.cfg.Wait, func() { c.due(a) })
		c.lanes[key] = a
		c.mu.Unlock()
		return true, nil
	}
}

// takeLocked removes a from its lane and stops its timer. Mu held.
func (c *Collector) takeLocked(a *collecting) {
	delete(c.lanes, a.key)
	a.timer.Stop()
}

// due hands a on when its timer fired, unless it was handed on already.
func (c *Collector) due(a *collecting) {
	c.mu.Lock()
	if c.lanes[a.key] != a {
		c.mu.Unlock()
		return
	}
	delete(c.lanes, a.key)
	c.firing.Add(1)
	c.mu.Unlock()
	defer c.firing.Done()
	c.cfg.Wrap(func() { c.handOff(c.ctx, a) })
}

// handOff submits a; when it cannot be queued every part's Done(false) is
// called and the error returned.
func (c *Collector) handOff(ctx context.Context, a *collecting) error {
	err := c.cfg.Submit(ctx, a.key, a.parts)
	if err != nil {
		for _, p := range a.parts {
			p.Done(false)
		}
	}
	return err
}

// Len returns the number of albums being collected.
func (c *Collector) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lanes)
}

// Stop ends collecting: Add takes nothing more, the albums being
// collected are handed on at once (with ctx: bound it — a full pool makes
// Submit wait), hand-offs started by timers are cancelled if still
// waiting for room, and Stop returns once every one of them has ended.
// Every part held has then been handed on or had its Done(false) called.
// Stop is safe to call more than once.
func (c *Collector) Stop(ctx context.Context) {
	c.mu.Lock()
	c.stopped = true
	held := make([]*collecting, 0, len(c.lanes))
	for _, a := range c.lanes {
		held = append(held, a)
		a.timer.Stop()
	}
	clear(c.lanes)
	c.mu.Unlock()
	// in the order they began (the lowest update first: it holds the
	// poller's watermark), not the map's
	slices.SortFunc(held, func(a, b *collecting) int {
		return cmp.Compare(a.parts[0].Update.UpdateID, b.parts[0].Update.UpdateID)
	})
	for _, a := range held {
		c.handOff(ctx, a)
	}
	c.cancel()
	c.firing.Wait()
}
