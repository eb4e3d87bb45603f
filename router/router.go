// Package router matches updates to handlers: filters (command, text,
// callback data exact or by prefix, update kind, …), middleware in the style
// of chi, and groups with middleware of their own. A handler gets a Context
// with one-line replies and keyboards usable with any Bot API method:
//
//	r.OnCommand("start", func(c *router.Context) error { return c.Reply("hi") })
//
// router starts no goroutine: it only decides which handler runs and builds
// the handler's middleware chain, and Context.Go hands background work to
// the runtime that owns it (without one it returns ErrNotRunning and starts
// nothing). Its only I/O is the Bot API calls of Context's helpers (Send,
// Reply, Edit, Answer), made through the handler's Client on the handler's
// goroutine. Running handlers (workers, contexts, labels, recovery) is the
// runtime's job (package tidygram).
package router

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"

	"github.com/tidygram/tidygram/tg"
)

// Handler handles one update. A returned error goes to the error handler;
// the update still counts as handled (it is not redelivered).
type Handler func(c *Context) error

// Middleware wraps a Handler: code before and after next, or instead of it.
type Middleware func(next Handler) Handler

// Router is an ordered list of routes: the first route whose filter matches
// an update handles it; when none matches, the fallback handler does (by
// default nothing happens). Register routes and middleware before the bot
// runs; a Router is safe for concurrent Match calls once Freeze was called.
type Router struct {
	mu       sync.Mutex
	frozen   bool
	mw       []Middleware
	routes   []*route
	fallback *route
	parent   *Router
}

type route struct {
	name   string
	filter Filter
	h      Handler // user handler
	group  *Router // or a group of routes
	chain  Handler // h wrapped in its group's and its parents' middleware
}

// New returns an empty Router.
func New() *Router { return &Router{} }

// Use appends middleware that wraps every handler of r and its groups,
// including the fallback. It panics after Freeze.
func (r *Router) Use(mw ...Middleware) {
	r.mutate(func() { r.mw = append(r.mw, mw...) })
}

// Handle registers h for updates matching f under a name used in logs,
// metrics and goroutine labels. An empty name is derived from h.
func (r *Router) Handle(name string, f Filter, h Handler) {
	if h == nil {
		panic("router: nil handler")
	}
	if name == "" {
		name = funcName(h)
	}
	r.mutate(func() { r.routes = append(r.routes, &route{name: name, filter: f, h: h}) })
}

// On registers h for updates matching f; the route is named after h.
func (r *Router) On(f Filter, h Handler) { r.Handle("", f, h) }

// OnCommand registers h for the command /name (also /name@thisbot), with or
// without arguments, in messages and channel posts.
func (r *Router) OnCommand(name string, h Handler) {
	r.Handle("/"+strings.TrimPrefix(name, "/"), Command(name), h)
}

// OnText registers h for every text message that no earlier route took.
func (r *Router) OnText(h Handler) { r.Handle("text", Text(), h) }

// OnCallback registers h for callback queries whose data is exactly data
// (the route is named "callback:"+data).
func (r *Router) OnCallback(data string, h Handler) {
	r.Handle("callback:"+data, CallbackData(data), h)
}

// OnCallbackPrefix registers h for callback queries whose data starts with
// prefix, such as "vote:" for "vote:up" and "vote:down" (the route is named
// "callback:"+prefix+"*"); c.CallbackData() gives the whole data.
func (r *Router) OnCallbackPrefix(prefix string, h Handler) {
	r.Handle("callback:"+prefix+"*", CallbackPrefix(prefix), h)
}

// Fallback sets the handler for updates no route matched. On a group it
// takes the updates that matched the group's filter but none of its routes.
func (r *Router) Fallback(h Handler) {
	r.mutate(func() { r.fallback = &route{name: "fallback", h: h} })
}

// Group adds a group of routes at this point of r's order: fn registers
// routes and middleware on the group, which apply to its routes only. A
// group matches when one of its routes does; if f is not nil the group is
// tried only for updates matching f.
func (r *Router) Group(f Filter, fn func(g *Router)) {
	g := &Router{parent: r}
	fn(g)
	r.mutate(func() { r.routes = append(r.routes, &route{filter: f, group: g}) })
}

func (r *Router) mutate(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen {
		panic("router: routes and middleware must be registered before the bot runs")
	}
	fn()
}

// Freeze builds every handler's middleware chain; afterwards r rejects
// changes and Match is safe for concurrent use. Freeze is idempotent.
func (r *Router) Freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen {
		return
	}
	r.freeze(nil)
}

// freeze builds chains with the middleware of the enclosing groups (outer,
// outermost first) followed by r's own.
func (r *Router) freeze(outer []Middleware) {
	r.frozen = true
	mws := append(append([]Middleware(nil), outer...), r.mw...)
	for _, rt := range r.routes {
		if rt.group != nil {
			rt.group.freeze(mws)
			continue
		}
		rt.chain = chain(mws, rt.h)
	}
	if r.fallback != nil {
		r.fallback.chain = chain(mws, r.fallback.h)
	}
}

func chain(mws []Middleware, h Handler) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Match returns the name and the middleware-wrapped handler of the route
// that handles u, or ok=false when nothing (not even a fallback) does.
// r must be frozen.
func (r *Router) Match(u *tg.Update) (name string, h Handler, ok bool) {
	if rt := r.match(u); rt != nil {
		return rt.name, rt.chain, true
	}
	if r.fallback != nil {
		return r.fallback.name, r.fallback.chain, true
	}
	return "", nil, false
}

func (r *Router) match(u *tg.Update) *route {
	for _, rt := range r.routes {
		if rt.filter != nil && !rt.filter(u) {
			continue
		}
		if rt.group == nil {
			return rt
		}
		if m := rt.group.match(u); m != nil {
			return m
		}
		if rt.group.fallback != nil {
			return rt.group.fallback
		}
	}
	return nil
}

func funcName(h Handler) string {
	f := runtime.FuncForPC(reflect.ValueOf(h).Pointer())
	if f == nil {
		return fmt.Sprintf("handler@%p", h)
	}
	name := f.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return name
}
