package leak

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults of [Survivors].
const (
	DefaultGrace      = 30 * time.Second // how long an update's goroutines may outlive its handler
	DefaultInterval   = 5 * time.Second  // how often Run checks the updates whose grace is over
	DefaultMaxPending = 100_000          // updates remembered at once; the oldest are dropped beyond
)

// Report names goroutines that outlived the update whose handler started
// them.
type Report struct {
	Bot      string    `json:"bot"`
	Handler  string    `json:"handler"`
	UpdateID int64     `json:"update_id"`
	ChatID   string    `json:"chat_id,omitempty"`
	Count    int       `json:"count"`
	Ended    time.Time `json:"ended"` // when the handler returned
	// Groups are the survivors by stack. They carry creation sites, wait
	// states and goroutine ids when GODEBUG has tracebacklabels=1 (see
	// EnableTracebackLabels); otherwise Origin names the function the go
	// statement started.
	Groups []Group `json:"groups"`
}

func (r Report) String() string {
	return fmt.Sprintf("%d goroutine(s) of handler %q outlived update %d (ended %s):\n%s",
		r.Count, r.Handler, r.UpdateID, r.Ended.Format(time.RFC3339), Format(r.Groups))
}

// Survivors checks that the goroutines a handler started end with its
// update. After each handler returns, the runtime calls Ended; once the
// grace period is over, one goroutine profile (debug=1, no stop-the-world)
// finds the goroutines still labelled with that update. Survivors are
// reported once per update, then the update is forgotten.
//
// Not counted: net/http client pool goroutines (they inherit the labels of
// the handler that caused a dial but belong to the pool; see PoolStats),
// and background work started through the handler context (component
// "background": owned, cancelled and awaited by the bot).
//
// Ended never blocks and costs one map insert; a check costs one profile
// read, taken only when some update's grace is over. At most MaxPending
// updates are remembered: beyond it the oldest are dropped unchecked and
// counted (Dropped).
type Survivors struct {
	bot        string
	grace      time.Duration
	interval   time.Duration
	maxPending int
	now        func() time.Time
	snapshot   func() ([]Group, error)
	detail     func() ([]Goroutine, error)
	report     func(Report)

	mu      sync.Mutex
	pending map[int64]ended
	queue   []int64 // update ids by end time (oldest first)
	dropped int64
	leaked  int64
	pool    PoolStats // pool goroutines of ended updates seen at the last check
}

type ended struct {
	handler string
	at      time.Time
}

// SurvivorOption configures Survivors.
type SurvivorOption func(*Survivors)

// WithGrace sets how long an update's goroutines may outlive its handler
// (default 30 s).
func WithGrace(d time.Duration) SurvivorOption { return func(s *Survivors) { s.grace = d } }

// WithInterval sets how often Run checks (default 5 s).
func WithInterval(d time.Duration) SurvivorOption { return func(s *Survivors) { s.interval = d } }

// WithMaxPending bounds the updates remembered at once (default 100,000).
func WithMaxPending(n int) SurvivorOption { return func(s *Survivors) { s.maxPending = n } }

// WithReport sets the function that receives each report, on the goroutine
// that runs the check. Default: log it at Warn with slog.Default().
func WithReport(f func(Report)) SurvivorOption { return func(s *Survivors) { s.report = f } }

// WithClock sets the clock (default time.Now); for tests.
func WithClock(now func() time.Time) SurvivorOption { return func(s *Survivors) { s.now = now } }

// WithSnapshot sets where goroutines are read from (default: Snapshot,
// decoding only this bot's goroutines, and Goroutines for creation sites
// when tracebacklabels is on); for tests
// and for reading another process's dumps. A nil snapshot keeps the
// default; a nil detail reads Goroutines when tracebacklabels is on.
func WithSnapshot(snapshot func() ([]Group, error), detail func() ([]Goroutine, error)) SurvivorOption {
	return func(s *Survivors) {
		if snapshot != nil {
			s.snapshot = snapshot
		}
		s.detail = detail
	}
}

// NewSurvivors returns a checker for the goroutines labelled with bot (the
// LabelBot value). It starts nothing: call Run, or CheckNow from a loop of
// your own.
func NewSurvivors(bot string, opts ...SurvivorOption) *Survivors {
	s := &Survivors{
		bot: bot, grace: DefaultGrace, interval: DefaultInterval, maxPending: DefaultMaxPending,
		now: time.Now, pending: map[int64]ended{},
		snapshot: func() ([]Group, error) { return snapshotLabelled(LabelBot, bot) },
		report: func(r Report) {
			slog.Warn("leak: goroutines outlived their update", "handler", r.Handler, "update_id", r.UpdateID,
				"count", r.Count, "report", Format(r.Groups))
		},
	}
	for _, o := range opts {
		o(s)
	}
	if s.detail == nil {
		s.detail = func() ([]Goroutine, error) {
			if !TracebackLabels() {
				return nil, nil
			}
			return Goroutines()
		}
	}
	if s.maxPending < 1 {
		s.maxPending = 1
	}
	return s
}

// Ended records that the handler of updateID returned. Safe for concurrent
// use; never blocks on a check in progress for longer than a map update.
func (s *Survivors) Ended(updateID int64, handler string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[updateID]; !ok {
		s.queue = append(s.queue, updateID)
	}
	s.pending[updateID] = ended{handler: handler, at: s.now()}
	for len(s.pending) > s.maxPending {
		id := s.queue[0]
		s.queue = s.queue[1:]
		if _, ok := s.pending[id]; ok {
			delete(s.pending, id)
			s.dropped++
		}
	}
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

// CheckNow checks the updates whose grace period is over, reports their
// survivors and forgets them. It returns the reports it made.
func (s *Survivors) CheckNow() ([]Report, error) {
	due := s.due()
	if len(due) == 0 {
		return nil, nil
	}
	reports, err := s.inspect(due)
	if err != nil {
		s.requeue(due)
		return nil, err
	}
	s.mu.Lock()
	for _, r := range reports {
		s.leaked += int64(r.Count)
	}
	s.mu.Unlock()
	for _, r := range reports {
		s.report(r)
	}
	return reports, nil
}

// UpdateReport returns the goroutines of bot labelled with updateID right
// now (pool goroutines and owned background work left out), as a Report
// for handler: for a handler that is still running past its deadline. It
// reads one goroutine profile, and a full dump for creation sites when
// tracebacklabels is on. Count is 0 when none is found.
func UpdateReport(bot string, updateID int64, handler string) (Report, error) {
	now := time.Now()
	rs, err := NewSurvivors(bot).inspect(map[int64]ended{updateID: {handler: handler, at: now}})
	if err != nil || len(rs) == 0 {
		return Report{Bot: bot, Handler: handler, UpdateID: updateID, Ended: now}, err
	}
	return rs[0], nil
}

// inspect reads the goroutines of the due updates and returns a report for
// each update that has some.
func (s *Survivors) inspect(due map[int64]ended) ([]Report, error) {
	groups, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	mine, pool := s.split(groups, due)
	s.mu.Lock()
	s.pool = pool
	s.mu.Unlock()
	if len(mine) == 0 {
		return nil, nil
	}
	detailed := s.details(due)
	var reports []Report
	for id, gs := range mine {
		if d, ok := detailed[id]; ok {
			gs = d
		}
		r := Report{Bot: s.bot, Handler: due[id].handler, UpdateID: id, Count: Count(gs), Ended: due[id].at, Groups: gs}
		if len(gs) > 0 {
			r.ChatID = gs[0].Labels[LabelChatID]
		}
		reports = append(reports, r)
	}
	sortReports(reports)
	return reports, nil
}

// split returns the survivors of due updates by update id, and the pool
// goroutines labelled with due updates.
func (s *Survivors) split(groups []Group, due map[int64]ended) (map[int64][]Group, PoolStats) {
	mine := map[int64][]Group{}
	var pooled []Group
	for _, g := range groups {
		id, ok := s.dueUpdate(g.Labels, due)
		if !ok {
			continue
		}
		if g.PoolRole() != "" {
			pooled = append(pooled, g)
			continue
		}
		mine[id] = append(mine[id], g)
	}
	_, pool := SplitPool(pooled)
	return mine, pool
}

// dueUpdate returns the update id of a survivor candidate: a goroutine of
// this bot labelled with a due update and not owned background work.
func (s *Survivors) dueUpdate(labels map[string]string, due map[int64]ended) (int64, bool) {
	if labels[LabelBot] != s.bot || labels[LabelComponent] == "background" {
		return 0, false
	}
	id, err := strconv.ParseInt(labels[LabelUpdateID], 10, 64)
	if err != nil {
		return 0, false
	}
	_, ok := due[id]
	return id, ok
}

// details returns the survivors from a debug=2 dump (creation sites, wait
// states), when one with labels can be had.
func (s *Survivors) details(due map[int64]ended) map[int64][]Group {
	if s.detail == nil {
		return nil
	}
	gs, err := s.detail()
	if err != nil || len(gs) == 0 {
		return nil
	}
	by := map[int64][]Goroutine{}
	for _, g := range gs {
		if id, ok := s.dueUpdate(g.Labels, due); ok && (Group{Stack: g.Stack}).PoolRole() == "" {
			by[id] = append(by[id], g)
		}
	}
	out := map[int64][]Group{}
	for id, list := range by {
		out[id] = GroupGoroutines(list)
	}
	return out
}

// due removes and returns the updates whose grace period is over.
func (s *Survivors) due() map[int64]ended {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := s.now().Add(-s.grace)
	due := map[int64]ended{}
	for len(s.queue) > 0 {
		id := s.queue[0]
		e, ok := s.pending[id]
		if ok && e.at.After(cut) {
			break
		}
		s.queue = s.queue[1:]
		if ok {
			delete(s.pending, id)
			due[id] = e
		}
	}
	if len(s.queue) == 0 {
		s.queue = nil // let the backing array go
	}
	return due
}

// requeue puts back updates whose check failed.
func (s *Survivors) requeue(due map[int64]ended) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for id, e := range due {
		if _, ok := s.pending[id]; !ok {
			s.pending[id] = e
			ids = append(ids, id)
		}
	}
	s.queue = append(ids, s.queue...)
}

// Leaked returns the goroutines reported so far.
func (s *Survivors) Leaked() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaked
}

// Dropped returns the updates forgotten unchecked because more than
// MaxPending were waiting.
func (s *Survivors) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Pending returns the updates waiting for their grace period to end.
func (s *Survivors) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Pool returns the connection-pool goroutines labelled with the updates
// checked last: connections dialled on their behalf, which belong to the
// pool and are not leaks (unless Bodies stays high: bodies not closed).
func (s *Survivors) Pool() PoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pool
}

func sortReports(rs []Report) {
	slices.SortFunc(rs, func(a, b Report) int { return cmp.Compare(a.UpdateID, b.UpdateID) })
}
