package tidygram_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/tg"
)

type vipKey struct{}

// routeObserver records the route of every handled update.
type routeObserver struct {
	observe.Nop
	mu     sync.Mutex
	routes []string
}

func (o *routeObserver) UpdateHandled(_ *tg.Update, route string, _ time.Duration, _ error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.routes = append(o.routes, route)
}

func (o *routeObserver) seen() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.routes...)
}

// Outer middleware sees every update and attaches what When's filters
// read; the route a When group decided is the one reported (metrics,
// logs), not the router's placeholder.
func TestOuterMiddlewareAndWhen(t *testing.T) {
	srv := emulator(t)
	obs := &routeObserver{}
	b := newBot(t, srv, tidygram.WithObserver(obs))
	var outer sync.Map
	b.UseOuter(func(next tidygram.Handler) tidygram.Handler {
		return func(c *tidygram.Context) error {
			outer.Store(c.Update.UpdateID, true)
			if c.Chat() != nil && c.Chat().ID == 7 {
				c = c.WithContext(context.WithValue(c, vipKey{}, true))
			}
			return next(c)
		}
	})
	vip := b.When(func(c *tidygram.Context) bool { return c.Value(vipKey{}) == true })
	vip.Handle("vip-text", nil, func(c *tidygram.Context) error { return nil })
	b.Handle("plain-text", nil, func(c *tidygram.Context) error { return nil })
	r := start(t, b)
	a := pushText(t, srv, 7, "from a vip")
	p := pushText(t, srv, 8, "from anyone")
	eventually(t, 10*time.Second, "both updates handled", func() bool { return len(obs.seen()) == 2 })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, route := range obs.seen() {
		got[route] = true
	}
	if !got["vip-text"] || !got["plain-text"] {
		t.Fatalf("routes reported %v, want vip-text and plain-text", obs.seen())
	}
	for _, id := range []int64{a, p} {
		if _, ok := outer.Load(id); !ok {
			t.Errorf("outer middleware did not see update %d", id)
		}
	}
}
