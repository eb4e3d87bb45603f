package heap

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// Frame is one frame of an allocation stack.
type Frame struct {
	Func string `json:"func"`
	File string `json:"file,omitempty"`
	Line int64  `json:"line,omitempty"`
}

// String is "func (file:line)", or the function alone without a file.
func (f Frame) String() string {
	if f.File == "" {
		return f.Func
	}
	return fmt.Sprintf("%s (%s:%d)", f.Func, f.File, f.Line)
}

// Site is where memory is allocated: the allocation stack cut to the
// frames that matter, and what it holds.
type Site struct {
	// Func is the first frame outside the runtime and the standard
	// library — or, when that is tidygram's API called by the program
	// (c.Client.Download), the program's frame that called it: the code
	// that asked for the memory. Its file and line are File and Line.
	Func string `json:"func"`
	File string `json:"file,omitempty"`
	Line int64  `json:"line,omitempty"`
	// Alloc is the innermost frame outside the runtime when it is not
	// Func: a standard library function such as io.ReadAll or
	// strings.(*Builder).WriteString.
	Alloc string `json:"alloc,omitempty"`
	// Handler is the function tidygram's executor called for the update
	// (the route's handler) when the stack passes through it, and Route
	// its route name when known (WithRoute).
	Handler string `json:"handler,omitempty"`
	Route   string `json:"route,omitempty"`
	// Stack is the cut stack, innermost first: Alloc and the library
	// frame the program called, Func, the program's frames up to
	// Handler.
	Stack []Frame `json:"stack"`
	// Values are the site's figures in the profile (or the last profile).
	Values Values `json:"values"`

	inner []string // function names from the leaf to Func, runtime included (for the patterns)
}

// Key identifies a site across profiles.
func (s Site) Key() string {
	return fmt.Sprintf("%s|%s:%d|%s|%s", s.Alloc, s.Func, s.Line, s.Handler, s.Route)
}

// Where is the site for people: "main.save (bot.go:31) via io.ReadAll,
// handler main.savePhoto (route /photo)".
func (s Site) Where() string {
	var b strings.Builder
	b.WriteString(s.At())
	switch {
	case s.Handler == s.Func && s.Handler != "":
		b.WriteString(", the handler")
	case s.Handler != "":
		fmt.Fprintf(&b, ", handler %s", s.Handler)
	}
	if s.Route != "" {
		fmt.Fprintf(&b, " (route %s)", s.Route)
	}
	return b.String()
}

// At is the site without its handler: "main.save (bot.go:31) via
// io.ReadAll".
func (s Site) At() string {
	at := Frame{s.Func, shortFile(s.File), s.Line}.String()
	if s.Alloc != "" {
		at += " via " + s.Alloc
	}
	return at
}

// Owner names the handler (route) a site belongs to, or "".
func (s Site) Owner() string {
	switch {
	case s.Route != "":
		return "route " + s.Route
	case s.Handler != "":
		return "handler " + s.Handler
	}
	return ""
}

func shortFile(f string) string {
	if i := strings.LastIndexByte(f, '/'); i >= 0 {
		if j := strings.LastIndexByte(f[:i], '/'); j >= 0 {
			return f[j+1:]
		}
	}
	return f
}

// executorCall is the frame that calls a route's handler.
const executorCall = "github.com/tidygram/tidygram/internal/executor.call"

const module = "github.com/tidygram/tidygram"

// config is the options of Analyze and Compare.
type config struct {
	routes    map[string]string // handler function name → route name
	minGrowth int64
	minChurn  int64
	top       int
	err       error // of an option
}

// Option configures Analyze, Compare and Explainer.
type Option func(*config)

// WithRoute names the route of handler h (the function given to the
// router), so sites under it show the route name: heap profiles carry no
// labels, only the handler's function.
func WithRoute(route string, h any) Option {
	return func(c *config) {
		v := reflect.ValueOf(h)
		if v.Kind() != reflect.Func || v.IsNil() {
			c.err = fmt.Errorf("heap: WithRoute(%q): %T is not a function", route, h)
			return
		}
		if f := runtime.FuncForPC(v.Pointer()); f != nil {
			// a method value's wrapper ("-fm") is not in stacks
			c.routes[strings.TrimSuffix(f.Name(), "-fm")] = route
		}
	}
}

// WithRouteFunc names the route of the handler function called fn (its
// full name as in a stack: "main.savePhoto").
func WithRouteFunc(route, fn string) Option { return func(c *config) { c.routes[fn] = route } }

// ServerRoutes returns the option that names routes from an ops server's
// /debug/routes answer (a JSON list of {"name", "handler"}: the bot's
// routes in the order they are tried): a site under a handler function
// gets the name of the first route it serves. Options after it (WithRoute,
// WithRouteFunc) override it. An answer that is not such a list is an
// error.
func ServerRoutes(data []byte) (Option, error) {
	var routes []struct{ Name, Handler string }
	if err := json.Unmarshal(data, &routes); err != nil {
		return nil, fmt.Errorf("heap: the ops server's routes: %w", err)
	}
	return func(c *config) {
		for i := len(routes) - 1; i >= 0; i-- { // the first route of a function wins
			if r := routes[i]; r.Name != "" && r.Handler != "" {
				c.routes[r.Handler] = r.Name
			}
		}
	}, nil
}

// WithMinGrowth sets the least in-use growth of a site, in bytes, that
// counts as growth (default DefaultMinGrowth); churn needs at least
// 4× that allocated.
func WithMinGrowth(n int64) Option { return func(c *config) { c.minGrowth = n } }

// WithTop bounds the sites a report lists (default DefaultTop).
func WithTop(n int) Option { return func(c *config) { c.top = n } }

// Defaults of the options.
const (
	DefaultMinGrowth = 1 << 20
	DefaultTop       = 10
)

func newConfig(opts []Option) (*config, error) {
	c := &config{routes: map[string]string{}, minGrowth: DefaultMinGrowth, top: DefaultTop}
	for _, o := range opts {
		o(c)
	}
	if c.err != nil {
		return nil, c.err
	}
	if c.minGrowth <= 0 || c.top <= 0 {
		return nil, fmt.Errorf("heap: WithMinGrowth and WithTop want positive values (got %d, %d)", c.minGrowth, c.top)
	}
	c.minChurn = 4 * c.minGrowth
	return c, nil
}

// isRuntime reports frames of the runtime and its internal packages.
func isRuntime(fn string) bool {
	return strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime/") ||
		strings.HasPrefix(fn, "runtime/internal/") || strings.HasPrefix(fn, "internal/abi.")
}

// isStd reports frames of the standard library: their import path's first
// element has no dot, and they are not package main.
func isStd(fn string) bool {
	if i := strings.IndexByte(fn, '['); i >= 0 {
		fn = fn[:i]
	}
	first := fn
	if i := strings.IndexByte(fn, '/'); i >= 0 {
		first = fn[:i]
	} else if i := strings.IndexByte(fn, '.'); i >= 0 {
		first = fn[:i]
	}
	return first != "main" && !strings.Contains(first, ".")
}

// isTidygram reports frames of tidygram itself: not its examples, test
// programs (testdata) or external test packages, which are programs using
// it.
func isTidygram(fn string) bool {
	if !strings.HasPrefix(fn, module+".") && !strings.HasPrefix(fn, module+"/") {
		return false
	}
	pkg := fn
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		if j := strings.IndexByte(pkg[i:], '.'); j >= 0 {
			pkg = pkg[:i+j]
		}
	}
	return !strings.HasPrefix(pkg, module+"/examples/") && !strings.Contains(pkg, "/testdata/") && !strings.HasSuffix(pkg, "_test")
}

// isUser reports frames of the program: outside the runtime, the
// standard library and tidygram.
func isUser(fn string) bool { return !isRuntime(fn) && !isStd(fn) && !isTidygram(fn) }

// isMachinery reports tidygram's own stages, which no program calls
// directly: allocations under them are tidygram's.
func isMachinery(fn string) bool {
	return strings.HasPrefix(fn, module+"/internal/") || strings.HasPrefix(fn, module+"/dispatch.") ||
		strings.HasPrefix(fn, module+".(*Bot).Run")
}

// frames returns s's stack, innermost first, inlined calls unfolded.
func frames(s *profile.Sample) []Frame {
	var out []Frame
	for _, loc := range s.Location {
		for _, ln := range loc.Line { // Line[0] is the innermost of the inlined calls
			if ln.Function != nil {
				out = append(out, Frame{ln.Function.Name, ln.Function.Filename, ln.Line})
			}
		}
	}
	return out
}

// cut makes a site of a stack (innermost frame first).
func (c *config) cut(stack []Frame) Site {
	first := func(ok func(string) bool) int {
		return slices.IndexFunc(stack, func(f Frame) bool { return ok(f.Func) })
	}
	alloc := first(func(fn string) bool { return !isRuntime(fn) })
	site := first(func(fn string) bool { return !isRuntime(fn) && !isStd(fn) })
	if site >= 0 && isTidygram(stack[site].Func) {
		// tidygram's API called by the program (c.Client.Download, say):
		// the site is the program's frame that called it. tidygram's
		// machinery (its stages, Run) stays the site itself.
		end := site
		for end < len(stack) && isTidygram(stack[end].Func) && !isMachinery(stack[end].Func) {
			end++
		}
		if end < len(stack) && isUser(stack[end].Func) {
			site = end
		}
	}
	if site < 0 {
		site = alloc
	}
	if site < 0 {
		if len(stack) == 0 {
			return Site{Func: "(unknown)"}
		}
		site = 0
	}
	var s Site
	for _, f := range stack[:site+1] {
		s.inner = append(s.inner, f.Func)
	}
	top := stack[site]
	s.Func, s.File, s.Line = top.Func, top.File, top.Line
	if alloc >= 0 && alloc < site {
		s.Alloc = stack[alloc].Func
		s.Stack = append(s.Stack, stack[alloc])
		// The library frame the program called (tidygram's, say
		// tg.(*Client).Download), for context.
		if lib := site - 1; lib > alloc && !isRuntime(stack[lib].Func) {
			s.Stack = append(s.Stack, stack[lib])
		}
	}
	s.Stack = append(s.Stack, top)
	// The handler is the outermost frame of program code under the
	// executor's call; program frames between it and the site stay in
	// the cut stack.
	if h := slices.IndexFunc(stack, func(f Frame) bool { return f.Func == executorCall }); h > site {
		for i := h - 1; i >= site; i-- {
			if isUser(stack[i].Func) {
				s.Handler = stack[i].Func
				for _, f := range stack[site+1 : i+1] {
					if isUser(f.Func) {
						s.Stack = append(s.Stack, f)
					}
				}
				break
			}
		}
	}
	s.Route = c.routes[s.Handler]
	return s
}

// sites aggregates p's samples by site.
func (c *config) sites(p *Profile) map[string]*Site {
	out := map[string]*Site{}
	for _, smp := range p.p.Sample {
		s := c.cut(frames(smp))
		v := p.values(smp)
		k := s.Key()
		if have, ok := out[k]; ok {
			for i := range v {
				have.Values[i] += v[i]
			}
			continue
		}
		s.Values = v
		out[k] = &s
	}
	return out
}

// Report is one heap profile explained.
type Report struct {
	Time    string `json:"time,omitempty"`
	Period  int64  `json:"sample_period_bytes"`
	Total   Values `json:"total"`
	Sites   int    `json:"sites"`
	BySpace []Site `json:"by_inuse_space"`   // top sites by in-use bytes
	ByCount []Site `json:"by_inuse_objects"` // top sites by in-use objects
	// Findings explain the sites holding the most (in-use bytes at least
	// the minimum growth and a tenth of the total) that match a pattern.
	// One profile cannot tell a leak from a steady state: compare two.
	Findings []Finding `json:"findings"`
	Runtime  Runtime   `json:"runtime"`
}

// Analyze ranks p's sites by in-use bytes and objects and explains the
// largest ones it recognises.
func Analyze(p *Profile, opts ...Option) (*Report, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	all := sortedSites(c.sites(p))
	r := &Report{Period: p.Period, Sites: len(all), Runtime: profileRuntime(p)}
	if !p.Time.IsZero() {
		r.Time = p.Time.UTC().Format("2006-01-02T15:04:05Z")
	}
	for _, s := range all {
		for i, v := range s.Values {
			r.Total[i] += v
		}
	}
	bySpace := func(a, b Site) int { return cmp.Compare(b.Values[InuseSpace], a.Values[InuseSpace]) }
	slices.SortStableFunc(all, bySpace)
	r.BySpace = slices.Clone(all[:min(len(all), c.top)])
	byCount := slices.Clone(all)
	slices.SortStableFunc(byCount, func(a, b Site) int { return cmp.Compare(b.Values[InuseObjects], a.Values[InuseObjects]) })
	r.ByCount = byCount[:min(len(byCount), c.top)]
	var held []Growth
	for _, s := range r.BySpace {
		if in := s.Values[InuseSpace]; in >= c.minGrowth && in*10 >= r.Total[InuseSpace] {
			held = append(held, Growth{Site: s, Verdict: VerdictHeld, InuseDelta: in})
		}
	}
	r.Findings = diagnose(held)
	return r, nil
}

// sortedSites returns the sites in a stable order (by key).
func sortedSites(m map[string]*Site) []Site {
	out := make([]Site, 0, len(m))
	for _, s := range m {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Site) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}
