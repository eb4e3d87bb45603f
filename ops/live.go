package ops

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram/leak"
)

// Bounds of what Metrics keep for the ops page.
const (
	latencyRing = 1024 // handler latencies kept for the page's p50/p99 (the last ones)
	maxReported = 64   // findings kept from reports (leaks, abandoned handlers, alarms), one per kind and owner
)

// live are the figures the ops page samples from a Metrics: totals since
// start (atomic), the latest handler latencies (a ring written without a
// lock) and the latest leak and growth reports, one per kind and owner.
type live struct {
	received, handled, apiCalls, api429 atomic.Uint64

	latN atomic.Uint64
	lat  [latencyRing]atomic.Int64 // nanoseconds; slot n%latencyRing holds the n-th

	mu       sync.Mutex
	reported []finding // at most maxReported, oldest first by last report
}

// latency records one handler's run time.
func (l *live) latency(d time.Duration) {
	n := l.latN.Add(1) - 1
	l.lat[n%latencyRing].Store(int64(d))
}

// latencies returns the run times recorded since the count from (at most
// the last latencyRing of them) and the count now. A slot being written
// while it is read may show the run time it replaces.
func (l *live) latencies(from uint64) ([]time.Duration, uint64) {
	to := l.latN.Load()
	n := min(to-min(from, to), latencyRing)
	out := make([]time.Duration, 0, n)
	for i := to - n; i < to; i++ {
		out = append(out, time.Duration(l.lat[i%latencyRing].Load()))
	}
	return out, to
}

// finding is one row of the ops page's findings table.
type finding struct {
	// Kind is "leak" (goroutines outlived their update, leak.Survivors),
	// "abandoned" (a handler ran past its timeout), "alarm" (the
	// watchdog's sustained growth of a resource) or "pattern" (the leak
	// catalogue's reading of the goroutines now, leak.Diagnose).
	Kind  string    `json:"kind"`
	Owner string    `json:"owner"` // "handler /remind", the alarm's resource, or the pattern's id
	At    time.Time `json:"at"`    // the last report
	// Reports counts the reports merged into this row; Count the
	// goroutines of the last one (an alarm's: its last value).
	Reports int     `json:"reports"`
	Count   float64 `json:"count"`
	Title   string  `json:"title"`  // one line
	Detail  string  `json:"detail"` // the last report's text: stacks and creation sites, growing owners or sites
	// Alarm is the watchdog's alarm as it reported it (kind "alarm"), all
	// its fields, whatever the watchdog adds to them.
	Alarm *leak.Alarm `json:"alarm,omitempty"`
}

// report merges f into the reported findings: a row per kind and owner,
// the least recently reported dropped beyond maxReported.
func (l *live) report(f finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.IndexFunc(l.reported, func(g finding) bool { return g.Kind == f.Kind && g.Owner == f.Owner })
	f.Reports = 1
	if i >= 0 {
		f.Reports += l.reported[i].Reports
		l.reported = slices.Delete(l.reported, i, i+1)
	}
	if len(l.reported) >= maxReported {
		l.reported = slices.Delete(l.reported, 0, 1)
	}
	l.reported = append(l.reported, f)
}

// findings returns the reported findings, latest first.
func (l *live) findings() []finding {
	l.mu.Lock()
	out := slices.Clone(l.reported)
	l.mu.Unlock()
	slices.Reverse(out)
	return out
}

func leakFinding(kind, title string, r leak.Report) finding {
	return finding{Kind: kind, Owner: "handler " + r.Handler, At: r.Ended, Count: float64(r.Count),
		Title: title, Detail: r.String()}
}

func (l *live) leaked(r leak.Report) {
	title := strconv.Itoa(r.Count) + " goroutine(s) outlived update " + strconv.FormatInt(r.UpdateID, 10)
	l.report(leakFinding("leak", title, r))
}

func (l *live) abandoned(r leak.Report, ran time.Duration) {
	f := leakFinding("abandoned", "handler abandoned after "+ran.Round(time.Millisecond).String()+
		" on update "+strconv.FormatInt(r.UpdateID, 10), r)
	f.At, f.Count = time.Now(), float64(max(r.Count, 1))
	l.report(f)
}

func (l *live) alarm(a leak.Alarm) {
	f := finding{Kind: "alarm", Owner: a.Resource, At: a.At, Count: a.To, Detail: a.String(), Alarm: &a}
	f.Title, _, _ = strings.Cut(f.Detail, "\n")
	if a.At.IsZero() {
		f.At = time.Now()
	}
	l.report(f)
}
