package leak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sync"
	"time"
)

// Defaults of [Watchdog]. Growth is "sustained" when, over the whole
// window, the least-squares slope is at least the limit and each fifth of
// the window is higher on average than the fifth before by at least a
// quarter of what the limit would add: a burst that stays, or noise around
// a steady level, does not fire.
const (
	DefaultWindow         = 10 * time.Minute
	DefaultSampleInterval = 30 * time.Second
	DefaultGoroutineLimit = 5.0     // goroutines per minute
	DefaultHeapLimit      = 4 << 20 // live heap bytes per minute
	DefaultFDLimit        = 2.0     // open file descriptors per minute
	MinProvenInterval     = time.Minute
	growthSegments        = 5
)

// Sample is one reading of the process's resources. A negative value means
// "not available" and is not checked.
type Sample struct {
	Time       time.Time `json:"time"`
	Goroutines float64   `json:"goroutines"`
	HeapLive   float64   `json:"heap_live_bytes"`
	FDs        float64   `json:"fds"`
}

// ReadSample reads the live goroutines (/sched/goroutines:goroutines),
// live heap (/gc/heap/live:bytes, as of the last GC) and the open file
// descriptors (/proc/self/fd; -1 where there is none) at now.
func ReadSample(now time.Time) Sample {
	ms := []metrics.Sample{{Name: "/sched/goroutines:goroutines"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(ms)
	s := Sample{Time: now, Goroutines: -1, HeapLive: -1, FDs: -1}
	if ms[0].Value.Kind() == metrics.KindUint64 {
		s.Goroutines = float64(ms[0].Value.Uint64())
	}
	if ms[1].Value.Kind() == metrics.KindUint64 {
		s.HeapLive = float64(ms[1].Value.Uint64())
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.FDs = float64(len(ents) - 1) // less the directory ReadDir itself opened
	}
	return s
}

// Limits are the growth rates, per minute, above which sustained growth
// raises an alarm. Zero switches a resource off; a negative (or NaN)
// limit makes NewWatchdog fail with an *OptionError.
type Limits struct {
	Goroutines float64 // default 5
	HeapBytes  float64 // default 4 MiB
	FDs        float64 // default 2
}

// Alarm describes sustained growth of one resource.
type Alarm struct {
	Resource string        `json:"resource"` // "goroutines", "heap_live_bytes", "fds", or "proven_leaks"
	Rate     float64       `json:"rate_per_min"`
	Limit    float64       `json:"limit_per_min"`
	Window   time.Duration `json:"window"`
	From     float64       `json:"from"`
	To       float64       `json:"to"`
	At       time.Time     `json:"at"`
	// Owners are the fastest-growing owners of goroutines over the window
	// (at most 5), when owner snapshots could be read.
	Owners []Delta `json:"owners,omitempty"`
	// Proven are goroutines the goroutineleak profile proved leaked
	// (Resource "proven_leaks" only).
	Proven []Group `json:"proven,omitempty"`
	// HeapSites are the fastest-growing allocation sites over the window
	// (Resource "heap_live_bytes", with WithHeapExplainer), and HeapError
	// why they are missing when the profiles could not be read or
	// explained.
	HeapSites []HeapSite `json:"heap_sites,omitempty"`
	HeapError string     `json:"heap_error,omitempty"`
}

// HeapSite is an allocation site whose in-use memory grew, as a
// HeapExplainer reports it.
type HeapSite struct {
	Site    string `json:"site"`              // function (file:line), and the allocating library function; not the handler
	Handler string `json:"handler,omitempty"` // the route's handler on the allocation stack
	Route   string `json:"route,omitempty"`   // its route name, when known
	Growth  int64  `json:"inuse_bytes_growth"`
	Verdict string `json:"verdict"`           // "leak" or "growing"
	Pattern string `json:"pattern,omitempty"` // the explainer's catalogue ID
	Fix     string `json:"fix,omitempty"`
}

// HeapExplainer explains heap growth for the Watchdog. Package leak parses
// no heap profile itself (bots link it, and a profile parser is large):
// github.com/tidygram/tidygram/leak/heap provides one, heap.Explainer,
// for the program's main (or its ops wiring) to plug in with
// WithHeapExplainer.
type HeapExplainer interface {
	// ExplainHeap compares two heap profiles of this process, in the
	// form runtime/pprof writes them (WriteHeapProfile, debug 0), the
	// first taken at the start of the window, and returns the sites that
	// grew, the fastest first, at most max.
	ExplainHeap(before, after []byte, max int) ([]HeapSite, error)
}

func (a Alarm) String() string {
	if a.Resource == "proven_leaks" {
		return fmt.Sprintf("%d goroutine(s) proven leaked:\n%s", Count(a.Proven), Format(a.Proven))
	}
	s := fmt.Sprintf("%s grew %.1f/min over %s (limit %.1f/min): %.0f -> %.0f", a.Resource, a.Rate, a.Window, a.Limit, a.From, a.To)
	for _, d := range a.Owners {
		s += fmt.Sprintf("\n  %+d %s (%d -> %d)", d.Growth(), d.Key, d.Before, d.After)
	}
	for _, h := range a.HeapSites {
		s += fmt.Sprintf("\n  %+.2f MiB %s at %s", float64(h.Growth)/(1<<20), h.Verdict, h.Site)
		if h.Route != "" {
			s += " (route " + h.Route + ")"
		} else if h.Handler != "" {
			s += " (handler " + h.Handler + ")"
		}
		if h.Pattern != "" {
			s += " [" + h.Pattern + "]"
		}
	}
	if a.HeapError != "" {
		s += "\n  heap sites unknown: " + a.HeapError
	}
	return s
}

// Watchdog samples the process every interval and raises an Alarm when
// goroutines, live heap or open files grow steadily over a window. After
// an alarm for a resource it waits a whole new window before the next one
// for it. It keeps at most window/interval+1 samples and 6 owner
// snapshots; a sample costs a runtime/metrics read and a /proc/self/fd
// listing, an owner snapshot (every window/5) one debug=1 goroutine
// profile.
//
// With WithHeapExplainer, a heap alarm also names the fastest-growing
// allocation sites: the Watchdog keeps one heap profile (runtime/pprof's
// bytes, taken at the start of the window and replaced when it is a
// window old and the heap is not rising), takes another at the alarm and
// hands both to the explainer. Without it no heap profile is taken.
//
// Optionally (WithProvenEvery) it also reads the goroutineleak profile,
// where the binary has it, and raises a "proven_leaks" alarm for
// goroutines the GC proved unreachable; each read forces a GC, so it runs
// at most once a minute.
type Watchdog struct {
	window, interval time.Duration
	limits           Limits
	now              func() time.Time
	sample           func(time.Time) Sample
	owners           func() ([]Group, error)
	proven           func() ([]Group, error)
	provenEvery      time.Duration
	alarm            func(Alarm)
	heapExplainer    HeapExplainer
	routeOf          func(handler string) string
	heapProfile      func() ([]byte, error)

	mu         sync.Mutex
	samples    []Sample
	since      map[string]time.Time // per resource: samples before this are ignored (after an alarm)
	snaps      []ownerSnap
	lastProven time.Time
	alarms     int
	heapBase   []byte // heap profile at the start of the window (with an explainer)
	heapBaseAt time.Time
}

type ownerSnap struct {
	at     time.Time
	groups []Group
}

// WatchdogOption configures a Watchdog. An option given a value it
// cannot use returns an *OptionError, which NewWatchdog returns: nothing
// is clamped or silently replaced by a default.
type WatchdogOption func(*Watchdog) error

// WithWindow sets the window growth must be sustained over (default
// DefaultWindow, 10 min; must be positive).
func WithWindow(d time.Duration) WatchdogOption {
	return option("WithWindow", d, d <= 0, "must be positive", func(w *Watchdog) { w.window = d })
}

// WithSampleInterval sets how often Run samples (default
// DefaultSampleInterval, 30 s; must be positive).
func WithSampleInterval(d time.Duration) WatchdogOption {
	return option("WithSampleInterval", d, d <= 0, "must be positive", func(w *Watchdog) { w.interval = d })
}

// notNil returns the watchdog option named name that refuses a nil func
// (isNil), else calls set.
func notNil(name string, isNil bool, set func(*Watchdog)) WatchdogOption {
	return option(name, "nil", isNil, "needs a func", set)
}

// WithLimits sets the growth limits (defaults: 5 goroutines, 4 MiB of live
// heap and 2 file descriptors per minute; each ≥ 0, 0 switching its
// resource off).
func WithLimits(l Limits) WatchdogOption {
	return option("WithLimits", l, !(l.Goroutines >= 0 && l.HeapBytes >= 0 && l.FDs >= 0),
		"limits must not be negative (0 switches a resource off)", func(w *Watchdog) { w.limits = l })
}

// WithAlarm sets the hook called with each alarm, on the goroutine that
// observed the sample. Default: log it at Warn with slog.Default(). f
// must not be nil.
func WithAlarm(f func(Alarm)) WatchdogOption {
	return notNil("WithAlarm", f == nil, func(w *Watchdog) { w.alarm = f })
}

// WithSampler replaces ReadSample (for tests, or to watch another
// process). f must not be nil.
func WithSampler(f func(now time.Time) Sample) WatchdogOption {
	return notNil("WithSampler", f == nil, func(w *Watchdog) { w.sample = f })
}

// WithOwners replaces Snapshot as the source of owner snapshots; nil turns
// them off.
func WithOwners(f func() ([]Group, error)) WatchdogOption {
	return func(w *Watchdog) error { w.owners = f; return nil }
}

// WithWatchClock sets the clock Run stamps samples with (default
// time.Now; must not be nil).
func WithWatchClock(now func() time.Time) WatchdogOption {
	return notNil("WithWatchClock", now == nil, func(w *Watchdog) { w.now = now })
}

// WithProvenEvery reads the goroutineleak profile every d (at least
// MinProvenInterval, a minute, else an *OptionError; default off) and
// raises a "proven_leaks" alarm when it holds goroutines. Without the
// profile in the binary it does nothing.
func WithProvenEvery(d time.Duration) WatchdogOption {
	return option("WithProvenEvery", d, d < MinProvenInterval, fmt.Sprintf("must be at least %v", MinProvenInterval),
		func(w *Watchdog) { w.provenEvery = d })
}

// WithProvenSource replaces ProvenLeaks (for tests). f must not be nil.
func WithProvenSource(f func() ([]Group, error)) WatchdogOption {
	return notNil("WithProvenSource", f == nil, func(w *Watchdog) { w.proven = f })
}

// WithHeapExplainer makes heap alarms name the fastest-growing allocation
// sites (at most 5), found by e from a heap profile taken at the start of
// the window and one taken at the alarm. leak/heap's Explainer is one:
//
//	tidygram.WithWatchdog(leak.WithHeapExplainer(heap.Explainer()))
//
// Default: none (no heap profile is taken).
func WithHeapExplainer(e HeapExplainer) WatchdogOption {
	return func(w *Watchdog) error { w.heapExplainer = e; return nil }
}

// WithRouteOf names the route of a growing heap site's handler function
// (as stacks name it) where the explainer did not: routeOf returns the
// route's name, or "". A tidygram Bot's watchdog (tidygram.WithWatchdog)
// has it set to the bot's routes. nil (the default) names none.
func WithRouteOf(routeOf func(handler string) string) WatchdogOption {
	return func(w *Watchdog) error { w.routeOf = routeOf; return nil }
}

// WithHeapProfiler replaces the heap profile source (default: this
// process's, as runtime/pprof.WriteHeapProfile writes it). f must not be
// nil.
func WithHeapProfiler(f func() ([]byte, error)) WatchdogOption {
	return notNil("WithHeapProfiler", f == nil, func(w *Watchdog) { w.heapProfile = f })
}

// HeapProfile returns this process's heap profile as
// runtime/pprof.WriteHeapProfile writes it (gzipped protobuf); in-use
// figures are as of the last completed GC.
func HeapProfile() ([]byte, error) {
	var b bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&b, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// NewWatchdog returns a Watchdog; it starts nothing until Run. An option
// given a value it cannot use makes it fail with an *OptionError.
func NewWatchdog(opts ...WatchdogOption) (*Watchdog, error) {
	w := &Watchdog{
		window: DefaultWindow, interval: DefaultSampleInterval,
		limits: Limits{Goroutines: DefaultGoroutineLimit, HeapBytes: DefaultHeapLimit, FDs: DefaultFDLimit},
		now:    time.Now, sample: ReadSample, owners: Snapshot, proven: ProvenLeaks, heapProfile: HeapProfile,
		alarm: func(a Alarm) { slog.Warn("leak: sustained growth", "resource", a.Resource, "alarm", a.String()) },
		since: map[string]time.Time{},
	}
	for _, o := range opts {
		if err := o(w); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Run samples every interval until ctx is done, then returns ctx's cause.
func (w *Watchdog) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.Observe(w.sample(w.now()))
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// Observe feeds one sample (Run calls it; tests and custom loops may too,
// with samples stamped by a fake clock) and returns the alarms it raised,
// after passing each to the hook.
func (w *Watchdog) Observe(s Sample) []Alarm {
	w.mu.Lock()
	w.samples = append(w.samples, s)
	// Keep the newest sample at or before the window's start, so that the
	// samples kept span the whole window: on a real clock samples never
	// fall exactly on its start, and without it growth would never count
	// as sustained.
	cut := s.Time.Add(-w.window)
	i := 0
	for i+1 < len(w.samples) && !w.samples[i+1].Time.After(cut) {
		i++
	}
	w.samples = w.samples[i:]
	var alarms []Alarm
	heapRising := false
	for _, r := range []struct {
		name  string
		limit float64
		get   func(Sample) float64
	}{
		{"goroutines", w.limits.Goroutines, func(s Sample) float64 { return s.Goroutines }},
		{"heap_live_bytes", w.limits.HeapBytes, func(s Sample) float64 { return s.HeapLive }},
		{"fds", w.limits.FDs, func(s Sample) float64 { return s.FDs }},
	} {
		if r.limit <= 0 || r.get(s) < 0 {
			continue
		}
		var pts []point
		for _, x := range w.samples {
			if !x.Time.Before(w.since[r.name]) && r.get(x) >= 0 {
				pts = append(pts, point{x.Time, r.get(x)})
			}
		}
		rate, ok := sustained(pts, r.limit, w.window)
		if r.name == "heap_live_bytes" && len(pts) >= 2 && slope(pts)*float64(time.Minute) >= r.limit {
			heapRising = true
		}
		if !ok {
			continue
		}
		w.since[r.name] = s.Time.Add(time.Nanosecond)
		alarms = append(alarms, Alarm{Resource: r.name, Rate: rate, Limit: r.limit, Window: w.window,
			From: pts[0].v, To: pts[len(pts)-1].v, At: s.Time})
	}
	var base []Group
	if len(w.snaps) > 0 {
		base = w.snaps[0].groups
	}
	takeSnap := w.owners != nil && (len(w.snaps) == 0 || s.Time.Sub(w.snaps[len(w.snaps)-1].at) >= w.window/growthSegments)
	provenDue := w.provenEvery > 0 && w.proven != nil && s.Time.Sub(w.lastProven) >= w.provenEvery
	if provenDue {
		w.lastProven = s.Time
	}
	heapAlarm := slices.IndexFunc(alarms, func(a Alarm) bool { return a.Resource == "heap_live_bytes" })
	heapBase := w.heapBase
	heapDue := w.heapExplainer != nil && (heapAlarm >= 0 || heapBase == nil || s.Time.Sub(w.heapBaseAt) >= w.window && !heapRising)
	w.mu.Unlock()

	if heapDue {
		prof, err := w.heapProfile()
		if heapAlarm >= 0 {
			a := &alarms[heapAlarm]
			switch {
			case err != nil:
				a.HeapError = "heap profile: " + err.Error()
			case heapBase == nil:
				a.HeapError = "no heap profile from the start of the window"
			default:
				sites, err := w.heapExplainer.ExplainHeap(heapBase, prof, 5)
				for i := range sites {
					if s := &sites[i]; s.Route == "" && s.Handler != "" && w.routeOf != nil {
						s.Route = w.routeOf(s.Handler)
					}
				}
				a.HeapSites = sites
				if err != nil {
					a.HeapError = err.Error()
				}
			}
		}
		if err == nil { // the next window starts here
			w.mu.Lock()
			w.heapBase, w.heapBaseAt = prof, s.Time
			w.mu.Unlock()
		}
	}

	goroutineAlarm := slices.ContainsFunc(alarms, func(a Alarm) bool { return a.Resource == "goroutines" })
	var now []Group
	if w.owners != nil && (takeSnap || goroutineAlarm) {
		if gs, err := w.owners(); err == nil {
			now = gs
			w.addSnap(s.Time, gs, takeSnap)
		}
	}
	for i := range alarms {
		if alarms[i].Resource == "goroutines" && base != nil && now != nil {
			d := DiffOwners(base, now)
			alarms[i].Owners = d[:min(len(d), 5)]
		}
	}
	if provenDue {
		if gs, err := w.proven(); err == nil && Count(gs) > 0 {
			alarms = append(alarms, Alarm{Resource: "proven_leaks", At: s.Time, To: float64(Count(gs)), Proven: gs})
		}
	}
	w.mu.Lock()
	w.alarms += len(alarms)
	w.mu.Unlock()
	for _, a := range alarms {
		w.alarm(a)
	}
	return alarms
}

func (w *Watchdog) addSnap(at time.Time, gs []Group, keep bool) {
	if !keep {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.snaps = append(w.snaps, ownerSnap{at, gs})
	for len(w.snaps) > growthSegments+1 || len(w.snaps) > 1 && at.Sub(w.snaps[1].at) >= w.window {
		w.snaps = w.snaps[1:]
	}
}

// Alarms returns the number of alarms raised so far.
func (w *Watchdog) Alarms() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.alarms
}

type point struct {
	t time.Time
	v float64
}

// sustained reports whether pts, which must cover at least window, grow at limit per minute or more: least-squares
// slope ≥ limit and each of five equal time segments higher on average
// than the one before by a quarter of limit × segment length.
func sustained(pts []point, limit float64, window time.Duration) (float64, bool) {
	if len(pts) < 2*growthSegments {
		return 0, false
	}
	span := pts[len(pts)-1].t.Sub(pts[0].t)
	if span < window {
		return 0, false
	}
	rate := slope(pts) * float64(time.Minute)
	if rate < limit {
		return rate, false
	}
	seg := span / growthSegments
	need := 0.25 * limit * seg.Minutes()
	var means [growthSegments]float64
	var ns [growthSegments]int
	for _, p := range pts {
		k := min(int(p.t.Sub(pts[0].t)/max(seg, 1)), growthSegments-1)
		means[k] += p.v
		ns[k]++
	}
	for k := range means {
		if ns[k] == 0 {
			return rate, false
		}
		means[k] /= float64(ns[k])
		if k > 0 && means[k]-means[k-1] < need {
			return rate, false
		}
	}
	return rate, true
}

// slope returns the least-squares slope of pts in units per nanosecond.
func slope(pts []point) float64 {
	t0 := pts[0].t
	var n, sx, sy, sxx, sxy float64
	for _, p := range pts {
		x := float64(p.t.Sub(t0))
		n++
		sx += x
		sy += p.v
		sxx += x * x
		sxy += x * p.v
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// GrowthRate returns the least-squares growth per minute of samples and
// whether it is sustained at limit per minute over their whole span (see
// the Watchdog rule; the samples must be at least 10). get picks the value.
func GrowthRate(samples []Sample, get func(Sample) float64, limit float64) (float64, bool) {
	pts := make([]point, 0, len(samples))
	for _, s := range samples {
		pts = append(pts, point{s.Time, get(s)})
	}
	if len(pts) < 2 {
		return 0, false
	}
	return sustained(pts, limit, pts[len(pts)-1].t.Sub(pts[0].t))
}

// ErrNoLeakProfile is returned by ProvenLeaks in a binary built without the
// goroutineleak profile (Go 1.26 without GOEXPERIMENT=goroutineleakprofile).
var ErrNoLeakProfile = errors.New("leak: goroutineleak profile not in this binary (build with GOEXPERIMENT=goroutineleakprofile on Go 1.26)")
