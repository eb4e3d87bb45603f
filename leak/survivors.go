package leak

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"
)

// Defaults of [Survivors].
const (
	DefaultGrace       = 30 * time.Second // how long an update's goroutines may outlive its handler
	DefaultInterval    = 5 * time.Second  // how often Run checks (shortened to the grace when that is shorter)
	DefaultMaxSuspects = 10_000           // updates with surviving goroutines tracked at once; more are counted in Dropped
)

// DefaultMaxPending is the former name of DefaultMaxSuspects.
//
// Deprecated: Survivors no longer remembers every handled update; use
// DefaultMaxSuspects.
const DefaultMaxPending = DefaultMaxSuspects

// minInterval is the shortest interval Run checks at.
const minInterval = time.Millisecond

// remakeAbove is the size above which an emptied map is made anew, so that
// the capacity a burst left behind is given back.
const remakeAbove = 256

// Report names goroutines that outlived the update whose handler started
// them.
type Report struct {
	Bot      string `json:"bot"`
	Handler  string `json:"handler"`
	UpdateID int64  `json:"update_id"`
	ChatID   string `json:"chat_id,omitempty"`
	Count    int    `json:"count"`
	// Ended is when the goroutines were first seen outliving their handler:
	// the first check after the handler returned, so at most one interval
	// after it did (for an UpdateReport: when the report was made).
	Ended time.Time `json:"ended"`
	// Groups are the survivors by stack. They carry creation sites, wait
	// states and goroutine ids when GODEBUG has tracebacklabels=1 (see
	// EnableTracebackLabels); otherwise Origin names the function the go
	// statement started.
	Groups []Group `json:"groups"`
}

func (r Report) String() string {
	return fmt.Sprintf("%d goroutine(s) of handler %q outlived update %d (seen since %s):\n%s",
		r.Count, r.Handler, r.UpdateID, r.Ended.Format(time.RFC3339), Format(r.Groups))
}

// Survivors checks that the goroutines a handler started end with its
// update. The runtime calls Started before each handler runs and Ended when
// it returns; a check (Run, every interval, or CheckNow) reads this bot's
// goroutines from one goroutine profile (debug=1, no stop-the-world) and
// groups them by their update_id label, skipping the updates whose handler
// is running:
//
//   - an update seen with goroutines for the first time becomes a suspect,
//     first seen now;
//   - a suspect still seen grace or more after it was first seen is
//     reported, once: handler and chat from the goroutines' labels,
//     creation sites from a debug=2 dump when tracebacklabels is on. It
//     stays marked reported, and so is never reported again, until its
//     goroutines are gone;
//   - a suspect whose goroutines are gone is forgotten.
//
// So with checks every interval, goroutines that outlive their handler are
// reported at least grace and less than grace + 2×interval after it
// returned: at most one interval until the first check that sees them,
// the grace, then less than one interval until the check that finds the
// grace over (plus the time checks take; a check whose profile read fails
// changes nothing, and the next one does its work). A goroutine that ends
// within grace of its handler's return is never reported. A handler that
// runs, however long, is never a suspect: that is supervision's business
// (an abandoned handler is reported by the runtime, which calls Reported
// so that its goroutines are not reported again here).
//
// Not counted: net/http client pool goroutines (they inherit the labels of
// the handler that caused a dial but belong to the pool; see Pool), and
// background work started through the handler context (component
// "background": owned, cancelled and awaited by the bot).
//
// Memory does not grow with throughput: Survivors holds the ids of the
// handlers running now (the workers plus abandoned handlers still running),
// a counter of handlers ended since the last check, and at most
// MaxSuspects suspects (under 0.5 MB at the default 10,000). Reported
// marks are kept beyond it: one per abandoned update whose handler or
// goroutines still run. Updates whose goroutines end with their handler
// leave nothing behind.
//
// Started and Ended never block on a check in progress (a check holds the
// lock only to compare the goroutines it read with the running set) and
// allocate nothing once the running set has reached its working size. A
// check reads the goroutine profile only when a handler ended since the
// last read or a suspect's grace is over: an idle bot costs nothing but
// its ticker. The debug=2 dump (which stops the world) is read only when
// some suspect is being reported and tracebacklabels is on.
type Survivors struct {
	bot         string
	grace       time.Duration
	interval    time.Duration
	maxSuspects int
	now         func() time.Time
	snapshot    func() ([]Group, error)
	detail      func() ([]Goroutine, error)
	report      func(Report)
	epoch       time.Time // suspects' times count from it (so they are small)

	checking sync.Mutex // one check at a time

	mu         sync.Mutex
	running    map[int64]int32 // update id → handlers of it running (Started, not Ended)
	runPeak    int             // most entries running has held since it was made
	ended      int64           // handlers ended since the last profile read
	suspects   map[int64]suspect
	suspPeak   int       // most entries suspects has held since it was made
	unreported int       // suspects not reported yet
	nextDue    time.Time // no unreported suspect is due before
	dropped    int64
	leaked     int64
	pool       PoolStats // pool goroutines of ended updates seen at the last profile read
}

// suspect is an update whose goroutines were seen after its handler ended.
type suspect struct {
	first    time.Duration // the check that first saw them, since epoch
	reported bool          // reported (here, or by the runtime as abandoned)
}

// SurvivorOption configures Survivors. An option given a value it cannot
// use returns an *OptionError, which NewSurvivors returns: nothing is
// clamped or silently replaced by a default.
type SurvivorOption func(*Survivors) error

// WithGrace sets how long an update's goroutines may outlive its handler
// (default DefaultGrace, 30 s; ≥ 0, 0 reports them at the second check
// that sees them).
func WithGrace(d time.Duration) SurvivorOption {
	return option("WithGrace", d, d < 0, "must not be negative", func(s *Survivors) { s.grace = d })
}

// WithInterval sets how often Run checks (default DefaultInterval, 5 s,
// or the grace when that is shorter but at least 1 ms; given, at least
// 1 ms).
func WithInterval(d time.Duration) SurvivorOption {
	return option("WithInterval", d, d < minInterval, fmt.Sprintf("must be at least %v", minInterval),
		func(s *Survivors) { s.interval = d })
}

// WithMaxSuspects bounds the updates with surviving goroutines tracked at
// once (default DefaultMaxSuspects, 10,000; at least 1). Beyond it an update seen with
// survivors is not tracked and is counted in Dropped, at every check that
// sees it until room is free; it is then tracked from that check on.
func WithMaxSuspects(n int) SurvivorOption {
	return option("WithMaxSuspects", n, n < 1, "must be at least 1", func(s *Survivors) { s.maxSuspects = n })
}

// WithMaxPending is the former name of WithMaxSuspects.
//
// Deprecated: Survivors no longer remembers every handled update, only the
// suspects; use WithMaxSuspects, which this now calls.
func WithMaxPending(n int) SurvivorOption { return WithMaxSuspects(n) }

// WithReport sets the function that receives each report, on the goroutine
// that runs the check. Default: log it at Warn with slog.Default(). f
// must not be nil.
func WithReport(f func(Report)) SurvivorOption {
	return option("WithReport", "nil", f == nil, "needs a func", func(s *Survivors) { s.report = f })
}

// WithClock sets the clock (default time.Now; must not be nil); for tests.
func WithClock(now func() time.Time) SurvivorOption {
	return option("WithClock", "nil", now == nil, "needs a func", func(s *Survivors) { s.now = now })
}

// WithSnapshot sets where goroutines are read from (default: Snapshot,
// decoding only this bot's goroutines, and Goroutines for creation sites
// when tracebacklabels is on); for tests
// and for reading another process's dumps. A nil snapshot keeps the
// default; a nil detail reads Goroutines when tracebacklabels is on.
func WithSnapshot(snapshot func() ([]Group, error), detail func() ([]Goroutine, error)) SurvivorOption {
	return func(s *Survivors) error {
		if snapshot != nil {
			s.snapshot = snapshot
		}
		s.detail = detail
		return nil
	}
}

// NewSurvivors returns a checker for the goroutines labelled with bot (the
// LabelBot value). It starts nothing: call Run, or CheckNow from a loop of
// your own. An option given a value it cannot use makes it fail with an
// *OptionError.
func NewSurvivors(bot string, opts ...SurvivorOption) (*Survivors, error) {
	s := &Survivors{
		bot: bot, grace: DefaultGrace, maxSuspects: DefaultMaxSuspects,
		now: time.Now, running: map[int64]int32{}, suspects: map[int64]suspect{},
		snapshot: func() ([]Group, error) { return snapshotLabelled(LabelBot, bot) },
		report: func(r Report) {
			slog.Warn("leak: goroutines outlived their update", "handler", r.Handler, "update_id", r.UpdateID,
				"count", r.Count, "report", Format(r.Groups))
		},
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.epoch = s.now()
	if s.detail == nil {
		s.detail = func() ([]Goroutine, error) {
			if !TracebackLabels() {
				return nil, nil
			}
			return Goroutines()
		}
	}
	if s.interval == 0 { // the documented default: 5 s, or the grace when shorter
		s.interval = max(min(DefaultInterval, s.grace), minInterval)
	}
	return s, nil
}

// Started records that a handler of updateID is about to run: until the
// matching Ended, the update's goroutines are not checked. Call it before
// the handler starts, or a handler running longer than the grace is taken
// for its own survivor. Safe for concurrent use.
func (s *Survivors) Started(updateID int64) {
	s.mu.Lock()
	s.running[updateID]++
	s.runPeak = max(s.runPeak, len(s.running))
	s.mu.Unlock()
}

// Ended records that the handler of updateID returned (an abandoned one
// too, when it finally does): the next check looks for goroutines it left.
// handler is not kept: reports name the handler from the goroutines'
// labels. Safe for concurrent use; it allocates nothing.
func (s *Survivors) Ended(updateID int64, handler string) {
	s.mu.Lock()
	if n := s.running[updateID]; n > 1 {
		s.running[updateID] = n - 1
	} else if n == 1 {
		delete(s.running, updateID)
		if len(s.running) == 0 && s.runPeak > remakeAbove {
			s.running, s.runPeak = map[int64]int32{}, 0
		}
	}
	s.ended++
	s.mu.Unlock()
}

// Reported records that the goroutines of updateID were reported by other
// means (the runtime reports an abandoned handler with UpdateReport): they
// are never reported here, until they are all gone. Marks are kept beyond
// MaxSuspects.
func (s *Survivors) Reported(updateID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, ok := s.suspects[updateID]
	if ok && sp.reported {
		return
	}
	if ok {
		s.unreported--
	} else {
		sp.first = s.now().Sub(s.epoch)
	}
	sp.reported = true
	s.suspects[updateID] = sp
	s.suspPeak = max(s.suspPeak, len(s.suspects))
}

// Run checks every interval until ctx is done, then returns ctx's cause.
// A failed check is retried at the next tick.
func (s *Survivors) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
			_, _ = s.CheckNow()
		}
	}
}

// Start checks every interval on timers instead of a goroutine of its
// own, until stop is called: each check runs on a goroutine of the timer's
// that carries ctx's pprof labels, so an idle checker holds no goroutine
// (a host of many idle bots pays none per bot). stop returns once a check
// in progress ended; no check starts after it.
func (s *Survivors) Start(ctx context.Context) (stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
		running sync.WaitGroup
		t       *time.Timer
	)
	tick := func() {
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		running.Add(1)
		mu.Unlock()
		defer running.Done()
		pprof.SetGoroutineLabels(ctx)
		_, _ = s.CheckNow()
		mu.Lock()
		if !stopped {
			t.Reset(s.interval)
		}
		mu.Unlock()
	}
	mu.Lock()
	t = time.AfterFunc(s.interval, tick)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
		running.Wait()
	}
}

// CheckNow checks once (see Survivors), passes the reports it makes to the
// report function and returns them. It reads nothing and returns nil when
// no handler ended since the last profile read and no suspect's grace is
// over. When the profile cannot be read it returns the error and changes
// nothing: the next check reads it again. Checks run one at a time.
func (s *Survivors) CheckNow() ([]Report, error) {
	reports, err := s.check()
	for _, r := range reports {
		s.report(r)
	}
	return reports, err
}

// check is CheckNow without calling the report function.
func (s *Survivors) check() ([]Report, error) {
	s.checking.Lock()
	defer s.checking.Unlock()
	s.mu.Lock()
	ended, todo := s.ended, s.ended > 0 || s.unreported > 0 && !s.now().Before(s.nextDue)
	s.mu.Unlock()
	if !todo {
		return nil, nil
	}
	groups, err := s.snapshot()
	if err != nil {
		return nil, fmt.Errorf("leak: survivors of bot %q: %w", s.bot, err)
	}
	seen, pooled := s.byUpdate(groups)

	s.mu.Lock()
	// Handlers that end from here on are counted for the next check; those
	// that ended while the profile was read are seen now and next time.
	s.ended -= ended
	now := s.now()
	due := s.track(seen, now)
	var pool []Group
	for id, gs := range pooled {
		if s.running[id] == 0 {
			pool = append(pool, gs...)
		}
	}
	_, s.pool = SplitPool(pool)
	s.mu.Unlock()
	if len(due) == 0 {
		return nil, nil
	}

	detailed := s.details(due)
	reports := make([]Report, 0, len(due))
	leaked := 0
	for id, first := range due {
		gs := seen[id]
		if d, ok := detailed[id]; ok {
			gs = d
		}
		r := Report{Bot: s.bot, UpdateID: id, Count: Count(gs), Ended: first, Groups: gs}
		r.Handler, r.ChatID = labelOf(gs, LabelHandler), labelOf(gs, LabelChatID)
		reports = append(reports, r)
		leaked += r.Count
	}
	sortReports(reports)
	s.mu.Lock()
	s.leaked += int64(leaked)
	s.mu.Unlock()
	return reports, nil
}

// track updates the suspects with the goroutines a profile read at now
// shows by update (running updates left out), and returns the suspects due
// for their report (marked reported) with their first-seen time. s.mu is
// held.
func (s *Survivors) track(seen map[int64][]Group, now time.Time) map[int64]time.Time {
	// Forget the suspects whose goroutines are gone first, to make room.
	// One whose handler runs again (redelivered) is left as it is.
	for id, sp := range s.suspects {
		if _, ok := seen[id]; !ok && s.running[id] == 0 {
			delete(s.suspects, id)
			if !sp.reported {
				s.unreported--
			}
		}
	}
	var due map[int64]time.Time
	for id := range seen {
		if s.running[id] > 0 {
			continue
		}
		sp, ok := s.suspects[id]
		switch {
		case !ok && len(s.suspects) >= s.maxSuspects:
			s.dropped++
		case !ok:
			s.suspects[id] = suspect{first: now.Sub(s.epoch)}
			s.unreported++
		case !sp.reported && now.Sub(s.epoch)-sp.first >= s.grace:
			if due == nil {
				due = map[int64]time.Time{}
			}
			due[id] = s.epoch.Add(sp.first)
			sp.reported = true
			s.suspects[id] = sp
			s.unreported--
		}
	}
	s.suspPeak = max(s.suspPeak, len(s.suspects))
	if len(s.suspects) == 0 && s.suspPeak > remakeAbove {
		s.suspects, s.suspPeak = map[int64]suspect{}, 0
	}
	s.nextDue = now.Add(s.grace)
	for _, sp := range s.suspects {
		if at := s.epoch.Add(sp.first + s.grace); !sp.reported && at.Before(s.nextDue) {
			s.nextDue = at
		}
	}
	return due
}

// byUpdate returns this bot's goroutines labelled with an update by update
// id, owned background work left out: the candidates, and apart the pool
// goroutines.
func (s *Survivors) byUpdate(groups []Group) (mine, pooled map[int64][]Group) {
	mine, pooled = map[int64][]Group{}, map[int64][]Group{}
	for _, g := range groups {
		id, ok := s.updateOf(g.Labels)
		if !ok {
			continue
		}
		if g.PoolRole() != "" {
			pooled[id] = append(pooled[id], g)
			continue
		}
		mine[id] = append(mine[id], g)
	}
	return mine, pooled
}

// updateOf returns the update id of a survivor candidate: a goroutine of
// this bot labelled with an update and not owned background work.
func (s *Survivors) updateOf(labels map[string]string) (int64, bool) {
	if labels[LabelBot] != s.bot || labels[LabelComponent] == "background" {
		return 0, false
	}
	v, ok := labels[LabelUpdateID]
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(v, 10, 64)
	return id, err == nil
}

// details returns the goroutines of the given updates from a debug=2 dump
// (creation sites, wait states), pool goroutines left out, when one with
// labels can be had.
func (s *Survivors) details(ids map[int64]time.Time) map[int64][]Group {
	if s.detail == nil {
		return nil
	}
	gs, err := s.detail()
	if err != nil || len(gs) == 0 {
		return nil
	}
	by := map[int64][]Goroutine{}
	for _, g := range gs {
		id, ok := s.updateOf(g.Labels)
		if _, want := ids[id]; ok && want && (Group{Stack: g.Stack}).PoolRole() == "" {
			by[id] = append(by[id], g)
		}
	}
	out := make(map[int64][]Group, len(by))
	for id, list := range by {
		out[id] = GroupGoroutines(list)
	}
	return out
}

// UpdateReport returns the goroutines of bot labelled with updateID right
// now (pool goroutines and owned background work left out), as a Report
// for handler: for a handler that is still running past its deadline. It
// reads one goroutine profile, and a full dump for creation sites when
// tracebacklabels is on. Count is 0 when none is found.
func UpdateReport(bot string, updateID int64, handler string) (Report, error) {
	s, err := NewSurvivors(bot) // no options: cannot fail
	if err != nil {
		return Report{}, err
	}
	r := Report{Bot: bot, Handler: handler, UpdateID: updateID, Ended: time.Now()}
	groups, err := s.snapshot()
	if err != nil {
		return r, fmt.Errorf("leak: goroutines of update %d: %w", updateID, err)
	}
	mine, _ := s.byUpdate(groups)
	gs, ok := mine[updateID]
	if !ok {
		return r, nil
	}
	if d, ok := s.details(map[int64]time.Time{updateID: r.Ended})[updateID]; ok {
		gs = d
	}
	r.Count, r.Groups, r.ChatID = Count(gs), gs, labelOf(gs, LabelChatID)
	return r, nil
}

// labelOf returns the first non-empty value of label among gs.
func labelOf(gs []Group, label string) string {
	for _, g := range gs {
		if v := g.Labels[label]; v != "" {
			return v
		}
	}
	return ""
}

// Leaked returns the goroutines reported so far.
func (s *Survivors) Leaked() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaked
}

// Dropped returns how many times an update seen with survivors was not
// tracked because MaxSuspects suspects were (counted at each check that
// saw it untracked).
func (s *Survivors) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Suspects returns the updates tracked now: seen with goroutines after
// their handler returned, reported or not yet (Reported marks included).
func (s *Survivors) Suspects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.suspects)
}

// Pending returns Suspects.
//
// Deprecated: updates are no longer remembered until their grace is over;
// use Suspects.
func (s *Survivors) Pending() int { return s.Suspects() }

// Pool returns the connection-pool goroutines labelled with updates whose
// handler was not running at the last profile read: connections dialled on
// their behalf, which belong to the pool and are not leaks (unless Bodies
// stays high: bodies not closed).
func (s *Survivors) Pool() PoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pool
}

func sortReports(rs []Report) {
	sortFunc(rs, func(a, b Report) int { return cmp.Compare(a.UpdateID, b.UpdateID) })
}
