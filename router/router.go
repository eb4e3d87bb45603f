// Package router matches updates to handlers: filters (commands, text,
// media, captions, entities, replies, forwards, chat-member transitions,
// business messages, callback data exact, by prefix or typed, conversation
// steps, …), middleware in the style of chi — an outer stage that sees every
// update before routing and an inner stage around the handler that matched —
// and groups with middleware of their own. A handler gets a Context with
// one-line replies, keyboards usable with any Bot API method and formatted
// text (package router/format):
//
//	r.OnCommand("start", func(c *router.Context) error { return c.Reply("hi") })
//
// # Filters
//
// A Filter reads the update alone: it is evaluated before any middleware
// runs, so the runtime knows the route's name (for labels, logs and metrics)
// as soon as the update arrives. A ContextFilter reads the handler's Context
// — what outer middleware attached (a user record, a locale, the step of a
// conversation) — and is attached to routes with When:
//
//	r.UseOuter(loadUser)                    // puts the user in the Context
//	r.When(isAdmin).OnCommand("ban", ban)   // isAdmin reads it
//
// # Order of a run
//
// For one update: the root's outer middleware (UseOuter) → the routes in
// order (Filter, then the ContextFilters of When, then a group's own outer
// middleware before its routes) → the inner middleware of the route's
// router and its enclosing groups (Use, outermost first) → the handler.
//
// router starts no goroutine: it only decides which handler runs and builds
// the handler's middleware chain, and Context.Go hands background work to
// the runtime that owns it (without one it returns ErrNotRunning and starts
// nothing). Its only I/O is the Bot API calls of Context's helpers (Send,
// Reply, Edit, Answer), made through the handler's Client on the handler's
// goroutine, and what middleware the bot adds does (Conversation reads and
// writes its session.Store). Running handlers (workers, contexts, labels,
// recovery) is the runtime's job (package tidygram).
package router

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/tg"
)

// Handler handles one update. A returned error goes to the error handler;
// the update still counts as handled (it is not redelivered).
type Handler func(c *Context) error

// Middleware wraps a Handler: code before and after next, or instead of it.
// Middleware must call next, if at all, on its own goroutine before it
// returns.
type Middleware func(next Handler) Handler

// ContextFilter reports whether a route applies by reading the handler's
// Context: the update and whatever outer middleware attached to it (values
// through Context.WithValue, a conversation's step). ContextFilters run
// after the outer middleware, on the handler's goroutine, within its
// timeout; like Filters they must be fast and free of side effects.
// Attach them to routes with Router.When.
type ContextFilter func(c *Context) bool

// Deferred is the route name Match gives an update whose route depends on a
// ContextFilter: it is known only once the outer middleware ran. The router
// then names the route that runs in Context.Route (of the Context Match's
// handler was called with, too) and in the handler's goroutine label.
const Deferred = "(deferred)"

// Router is an ordered list of routes: the first route whose filters match
// an update handles it; when none matches, the fallback handler does (by
// default nothing happens). Register routes and middleware before the bot
// runs; a Router is safe for concurrent Match calls once Freeze was called.
type Router struct {
	mu       sync.Mutex
	frozen   bool
	mw       []Middleware // inner: around the handler of the route that matched
	outer    []Middleware // outer: around the routing of every update reaching r
	routes   []*route
	fallback *route
	parent   *Router
	// Set by freeze.
	dynamic bool    // on the root: some routing waits for a Context (UseOuter or When somewhere)
	enter   Handler // r.outer around r.routeInside; nil without outer middleware
}

type route struct {
	name   string
	filter Filter
	when   []ContextFilter // all must hold; only on groups (When)
	h      Handler         // user handler
	group  *Router         // or a group of routes
	chain  Handler         // h wrapped in its group's and its parents' middleware
}

// New returns an empty Router.
func New() *Router { return &Router{} }

// Use appends inner middleware: it wraps the handler of the route that
// matched, in r and its groups, including the fallback. It does not see
// updates no route takes; use UseOuter for that. It panics after Freeze.
func (r *Router) Use(mw ...Middleware) {
	r.mutate(func() { r.mw = append(r.mw, mw...) })
}

// UseOuter appends outer middleware: it wraps the routing of every update
// that reaches r — on the root, every update the runtime routes (matched by
// a route or not); on a group, every update the group's filter selects —
// before r's routes are tried. It is the place for what must see every
// update (logging, auth, loading the user, the locale, a throttle,
// Conversation's state): it may stop the update by not calling next,
// attach values that ContextFilters (When) and handlers read, and see the
// result. When no route of a group takes the update, the group's outer
// middleware returns and routing goes on after the group, outside it.
//
// The name follows aiogram's outer/inner middleware; chi has no routing
// after middleware, so Use keeps its chi meaning (around the matched
// handler). It panics after Freeze.
func (r *Router) UseOuter(mw ...Middleware) {
	r.mutate(func() { r.outer = append(r.outer, mw...) })
}

// Handle registers h for updates matching f (nil: every update) under a name
// used in logs, metrics and goroutine labels. An empty name is derived from
// h.
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
// without arguments, in new messages, channel posts and business messages.
// Commands match case-insensitively (see Command).
func (r *Router) OnCommand(name string, h Handler) {
	r.Handle("/"+strings.TrimPrefix(name, "/"), Command(name), h)
}

// OnText registers h for every new text message (messages, channel posts
// and business messages) that no earlier route took.
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

// When adds, at this point of r's order, a group of routes tried only when
// every ContextFilter fs holds, and returns it: routes registered on it
// need both their own filter and fs.
//
//	r.When(conv.In("address")).OnText(saveAddress)
//	admin := r.When(isAdmin)
//	admin.OnCommand("ban", ban)
//	admin.OnCommand("stats", stats)
//
// ContextFilters read what outer middleware attached, so an update whose
// way passes a When is routed after the outer middleware ran: Match names
// it Deferred, and the router names the route that runs in Context.Route
// and the handler's goroutine label. The group is tried at the position
// When was called, whenever its routes were registered.
func (r *Router) When(fs ...ContextFilter) *Router {
	for _, f := range fs {
		if f == nil {
			panic("router: nil ContextFilter")
		}
	}
	g := &Router{parent: r}
	r.mutate(func() { r.routes = append(r.routes, &route{when: fs, group: g}) })
	return g
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
	r.dynamic = r.freeze(nil)
}

// freeze builds chains with the middleware of the enclosing groups (outer,
// outermost first) followed by r's own. It reports whether routing in r's
// tree needs a Context (outer middleware or When somewhere).
func (r *Router) freeze(enclosing []Middleware) (dynamic bool) {
	r.frozen = true
	dynamic = len(r.outer) > 0
	mws := append(append([]Middleware(nil), enclosing...), r.mw...)
	for _, rt := range r.routes {
		if len(rt.when) > 0 {
			dynamic = true
		}
		if rt.group != nil {
			if rt.group.freeze(mws) {
				dynamic = true
			}
			continue
		}
		rt.chain = chain(mws, rt.h)
	}
	if r.fallback != nil {
		r.fallback.chain = chain(mws, r.fallback.h)
	}
	if len(r.outer) > 0 {
		r.enter = chain(r.outer, r.routeInside)
	}
	return dynamic
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
//
// Without outer middleware and When, the route is chosen here, from u. With
// them, the handler Match returns runs the outer middleware and chooses the
// route after it; ok is true whenever outer middleware will see u, even if
// no route takes it. The name is then the route u's Filters lead to, ""
// when none does, or Deferred when a When decides; the handler sets
// Context.Route to the route that ran ("" if none did).
func (r *Router) Match(u *tg.Update) (name string, h Handler, ok bool) {
	if !r.dynamic {
		if rt := r.match(u); rt != nil {
			return rt.name, rt.chain, true
		}
		if r.fallback != nil {
			return r.fallback.name, r.fallback.chain, true
		}
		return "", nil, false
	}
	name, p := r.preview(u)
	switch {
	case p == previewRoute:
		return name, r.serve, true
	case p == previewDeferred:
		return Deferred, r.serve, true
	case p == previewOuter || len(r.outer) > 0:
		return "", r.serve, true
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

// What preview can tell from an update alone.
const (
	previewNone     = iota // no route, no outer middleware on the way
	previewOuter           // no route, but a group's outer middleware sees u
	previewRoute           // the route named
	previewDeferred        // a When decides
)

// preview walks r's routes as dispatch will, with Filters only: it stops
// at the first route taking u or at the first When u reaches.
func (r *Router) preview(u *tg.Update) (string, int) {
	outer := false
	for _, rt := range r.routes {
		if rt.filter != nil && !rt.filter(u) {
			continue
		}
		if len(rt.when) > 0 {
			// Deferred only if a route of the group might take u.
			switch _, p := rt.group.preview(u); p {
			case previewRoute, previewDeferred:
				return "", previewDeferred
			case previewOuter:
				outer = true
			}
			if len(rt.group.outer) > 0 {
				outer = true
			}
			continue
		}
		if rt.group == nil {
			return rt.name, previewRoute
		}
		switch name, p := rt.group.preview(u); p {
		case previewRoute, previewDeferred:
			return name, p
		case previewOuter:
			outer = true
		}
		if len(rt.group.outer) > 0 {
			outer = true
		}
	}
	if r.fallback != nil {
		return r.fallback.name, previewRoute
	}
	if outer {
		return "", previewOuter
	}
	return "", previewNone
}

// routing is the state of one dynamic run, shared by the copies of its
// Context.
type routing struct {
	entry *Context // the Context Match's handler was called with
	named string   // entry's Route on the way in: its goroutine's handler label
	res   int      // what the innermost group entered reports (res*)
	ran   bool     // a route (or fallback) ran
}

// What a group's outer chain did with an update.
const (
	resStopped   = iota // its middleware did not call next
	resTaken            // a route (or the group's fallback) took it
	resUnmatched        // no route took it: routing goes on after the group
)

// serve is the handler Match returns for a dynamic router: outer
// middleware, then routing on the Context.
func (r *Router) serve(c *Context) error {
	prev := c.rt
	c.rt = &routing{entry: c, named: c.Route}
	defer func() { c.rt = prev }()
	_, err := r.take(c)
	if !c.rt.ran {
		c.Route = ""
	}
	return err
}

// take runs r's outer middleware around the routing of c among r's routes
// and reports whether the update was taken (by a route, a fallback, or
// middleware that stopped it).
func (r *Router) take(c *Context) (bool, error) {
	if r.enter == nil {
		return r.dispatch(c)
	}
	rt := c.rt
	prev := rt.res
	rt.res = resStopped
	err := r.enter(c)
	res := rt.res
	rt.res = prev
	if res == resUnmatched && err == nil {
		return false, nil
	}
	return true, err
}

// routeInside is the innermost handler of r's outer chain.
func (r *Router) routeInside(c *Context) error {
	if c.rt == nil { // a middleware made a Context of its own
		c.rt = &routing{entry: c, named: c.Route}
	}
	taken, err := r.dispatch(c)
	if taken {
		c.rt.res = resTaken
	} else {
		c.rt.res = resUnmatched
	}
	return err
}

// dispatch tries r's routes in order on c and runs the first that takes it.
func (r *Router) dispatch(c *Context) (bool, error) {
	for _, rt := range r.routes {
		if rt.filter != nil && !rt.filter(c.Update) {
			continue
		}
		if !holds(rt.when, c) {
			continue
		}
		if rt.group == nil {
			return true, runRoute(c, rt)
		}
		if taken, err := rt.group.take(c); taken {
			return true, err
		}
	}
	if r.fallback != nil {
		return true, runRoute(c, r.fallback)
	}
	return false, nil
}

func holds(fs []ContextFilter, c *Context) bool {
	for _, f := range fs {
		if !f(c) {
			return false
		}
	}
	return true
}

// runRoute runs rt's chain with c named after it; when the goroutine's
// handler label names another route, the chain runs relabelled, so that a
// leak report names the route that ran.
func runRoute(c *Context, rt *route) error {
	c.Route = rt.name
	c.rt.ran = true
	if c.rt.entry != nil {
		c.rt.entry.Route = rt.name
	}
	if rt.name == c.rt.named {
		return rt.chain(c)
	}
	var err error
	labels := pprof.Labels(leak.LabelHandler, rt.name)
	pprof.Do(c.Context, labels, func(ctx context.Context) {
		// ctx carries the route's label: Context.Go's work is named after
		// the route too (the Spawner copies the handler context's labels)
		err = rt.chain(c.WithContext(ctx))
	})
	return err
}

// funcName is h's function name without its package path ("bot.reply"),
// the name of a route registered without one.
func funcName(h Handler) string {
	name := fullFuncName(h)
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// fullFuncName is h's function name as stacks and profiles name it:
// "main.savePhoto", "example.com/bot.(*Shop).photo" (a method value's
// wrapper, "-fm", does not appear in stacks).
func fullFuncName(h Handler) string {
	f := runtime.FuncForPC(reflect.ValueOf(h).Pointer())
	if f == nil {
		return fmt.Sprintf("handler@%p", h)
	}
	return strings.TrimSuffix(f.Name(), "-fm")
}

// Route names a registered route and its handler, as Routes lists them.
type Route struct {
	Name string `json:"name"` // the route's name in logs, metrics and goroutine labels
	// Handler is the handler's function as stacks and profiles name it
	// ("main.savePhoto"; a closure "main.run.func1", a method value
	// "example.com/bot.(*Shop).photo").
	Handler string `json:"handler"`
}

// Routes lists r's routes in the order they are tried, a group's routes
// in its place and its fallback after them, r's fallback last. A heap or
// goroutine profile names functions, not routes: the list maps one to
// the other.
func (r *Router) Routes() []Route {
	var out []Route
	r.routes0(&out)
	return out
}

func (r *Router) routes0(out *[]Route) {
	r.mu.Lock()
	routes, fallback := r.routes, r.fallback
	r.mu.Unlock()
	for _, rt := range routes {
		if rt.group != nil {
			rt.group.routes0(out)
			continue
		}
		*out = append(*out, Route{Name: rt.name, Handler: fullFuncName(rt.h)})
	}
	if fallback != nil {
		*out = append(*out, Route{Name: fallback.name, Handler: fullFuncName(fallback.h)})
	}
}
