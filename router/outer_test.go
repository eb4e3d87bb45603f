package router

import (
	"context"
	"errors"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/tg"
)

type ctxKey string

// trail records what ran, in order.
type trail []string

func (t *trail) mw(name string) Middleware {
	return func(next Handler) Handler {
		return func(c *Context) error {
			*t = append(*t, name)
			return next(c)
		}
	}
}

func (t *trail) h(name string) Handler {
	return func(*Context) error { *t = append(*t, name); return nil }
}

// run matches u in r and runs its handler; it returns the name Match gave,
// what ran, and the Route of the Context the handler was called with.
func run(t *testing.T, r *Router, tr *trail, u *tg.Update) (name, ran, route string, ok bool) {
	t.Helper()
	*tr = nil
	name, h, ok := r.Match(u)
	if !ok {
		return name, "", "", false
	}
	c := NewContext(context.Background(), u, nil, name, nil)
	if err := h(c); err != nil && !strings.Contains(err.Error(), "stop") {
		t.Fatal(err)
	}
	return name, strings.Join(*tr, ">"), c.Route, true
}

func TestOuterMiddleware(t *testing.T) {
	var tr trail
	isAdmin := func(c *Context) bool { v, _ := c.Value(ctxKey("role")).(string); return v == "admin" }
	r := New()
	r.UseOuter(tr.mw("log"))
	r.UseOuter(func(next Handler) Handler { // loads the role; stops banned users
		return func(c *Context) error {
			switch c.Text() {
			case "banned":
				tr = append(tr, "stopped")
				return nil
			case "/ban", "/stats":
				return next(c.WithValue(ctxKey("role"), "admin"))
			}
			return next(c)
		}
	})
	r.Use(tr.mw("inner"))
	r.OnCommand("start", tr.h("start"))
	admin := r.When(isAdmin)
	admin.OnCommand("ban", tr.h("ban"))
	r.Group(CallbackPrefix("g:"), func(g *Router) {
		g.UseOuter(tr.mw("g-outer"))
		g.Use(tr.mw("g-inner"))
		g.OnCallback("g:x", tr.h("gx"))
	})
	r.OnCommand("ban", tr.h("ban-denied"))
	r.OnCallbackPrefix("", tr.h("any-callback"))
	r.Freeze()

	tests := []struct {
		name        string
		u           *tg.Update
		matchName   string // Match's name
		ran         string
		route       string // Context.Route afterwards
		unmatchedOK bool
	}{
		{"a plain route", text("/start"), "/start", "log>inner>start", "/start", false},
		{"outer sees unmatched updates", text("hello"), "", "log", "", false},
		{"outer stops an update", text("banned"), "", "log>stopped", "", false},
		{"When reads what outer attached", text("/ban"), Deferred, "log>inner>ban", "/ban", false},
		{"When false: the next route", &tg.Update{UpdateID: 9, Message: &tg.Message{Chat: tg.Chat{ID: 7}, Text: "/ban@bot x"}}, Deferred, "log>inner>ban-denied", "/ban", false},
		{"group outer then group route", callback("g:x"), "callback:g:x", "log>g-outer>inner>g-inner>gx", "callback:g:x", false},
		{"group outer, no group route: on after the group", callback("g:y"), "callback:*", "log>g-outer>inner>any-callback", "callback:*", false},
		{"a later route", callback("z"), "callback:*", "log>inner>any-callback", "callback:*", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, ran, route, ok := run(t, r, &tr, tt.u)
			if !ok || name != tt.matchName || ran != tt.ran || route != tt.route {
				t.Errorf("Match name %q (ok %v), ran %q, Route %q; want %q, %q, %q", name, ok, ran, route, tt.matchName, tt.ran, tt.route)
			}
		})
	}
}

// Without outer middleware, Match decides from the update alone — as
// before — unless a When is on the way.
func TestMatchNamesWithWhen(t *testing.T) {
	var tr trail
	never := func(*Context) bool { return false }
	r := New()
	r.OnCommand("start", tr.h("start"))
	r.When(never).OnText(tr.h("never"))
	r.Group(CallbackPrefix("g:"), func(g *Router) {
		g.UseOuter(tr.mw("g-outer"))
		g.OnCallback("g:x", tr.h("gx"))
	})
	r.Freeze()
	tests := []struct {
		u         *tg.Update
		name, ran string
		ok        bool
	}{
		{text("/start"), "/start", "start", true},
		{text("hi"), Deferred, "", true},                      // the When decides: false, nothing runs
		{callback("g:x"), "callback:g:x", "g-outer>gx", true}, // the group's outer middleware runs
		{callback("g:y"), "", "g-outer", true},                // seen by the group's outer middleware only
		{callback("other"), "", "", false},                    // nothing on its way
		{&tg.Update{UpdateID: 5, InlineQuery: &tg.InlineQuery{ID: "q"}}, "", "", false},
	}
	for _, tt := range tests {
		name, ran, route, ok := run(t, r, &tr, tt.u)
		if name != tt.name || ran != tt.ran || ok != tt.ok {
			t.Errorf("%s: Match %q ok %v ran %q; want %q %v %q", tt.u.Kind(), name, ok, ran, tt.name, tt.ok, tt.ran)
		}
		if ok && tt.ran == "" && route != "" {
			t.Errorf("%s: Route %q after no route ran, want \"\"", tt.u.Kind(), route)
		}
	}
}

// A route chosen after the outer middleware runs under its own handler
// label (pprof.Do sets the goroutine's labels from the context's), so
// goroutines it starts — and a leak report — name it.
func TestDeferredRouteIsLabelled(t *testing.T) {
	var got string
	r := New()
	r.UseOuter(func(next Handler) Handler { return func(c *Context) error { return next(c) } })
	var background string
	r.When(func(*Context) bool { return true }).OnText(func(c *Context) error {
		got, _ = pprof.Label(c, leak.LabelHandler)
		return c.Go(func(ctx context.Context) { background, _ = pprof.Label(ctx, leak.LabelHandler) })
	})
	r.Freeze()
	name, h, ok := r.Match(text("hi"))
	if !ok || name != Deferred {
		t.Fatalf("Match = %q %v", name, ok)
	}
	var err error
	pprof.Do(context.Background(), pprof.Labels(leak.LabelHandler, name, leak.LabelUpdateID, "1"), func(ctx context.Context) {
		// The runtime's spawner keeps the labels of the handler's
		// context; this one runs fn at once with it.
		spawn := func(hctx context.Context, fn func(context.Context)) error { fn(hctx); return nil }
		err = h(NewContext(ctx, text("hi"), nil, name, spawn))
	})
	if err != nil || got != "text" || background != "text" {
		t.Fatalf("handler label %q, background work's %q, err %v; want text", got, background, err)
	}
}

// An error from a route passes through the outer middleware, which sees
// it; an outer middleware's own error ends the update.
func TestOuterErrors(t *testing.T) {
	boom := errors.New("boom")
	var seen error
	r := New()
	r.UseOuter(func(next Handler) Handler {
		return func(c *Context) error { seen = next(c); return seen }
	})
	r.Group(nil, func(g *Router) {
		g.UseOuter(func(next Handler) Handler {
			return func(c *Context) error {
				if c.Text() == "deny" {
					return errors.New("stop: denied")
				}
				return next(c)
			}
		})
		g.On(TextEquals("fail"), func(*Context) error { return boom })
	})
	r.OnText(func(*Context) error { return nil })
	r.Freeze()
	for _, tt := range []struct {
		text string
		want string
	}{{"fail", "boom"}, {"deny", "stop: denied"}, {"ok", ""}} {
		_, h, _ := r.Match(text(tt.text))
		err := h(NewContext(context.Background(), text(tt.text), nil, "", nil))
		if got := errString(err); got != tt.want || errString(seen) != tt.want {
			t.Errorf("%s: error %q (outer saw %q), want %q", tt.text, got, errString(seen), tt.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestWhenNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("When(nil) did not panic")
		}
	}()
	New().When(nil)
}
