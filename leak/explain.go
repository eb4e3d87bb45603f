package leak

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// DefaultPoolSize is the connection pool size Diagnose assumes: tidygram
// keeps one idle Bot API connection per worker plus the poller's (16 + 2).
const DefaultPoolSize = 18

// Pattern is a known leak pattern of the catalogue Diagnose uses.
type Pattern struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Fix   string `json:"fix"`
}

// Finding is a pattern of the catalogue found in a dump.
type Finding struct {
	Pattern
	Why    string  `json:"why"`    // what in the dump matched
	Count  int     `json:"count"`  // goroutines matched
	Score  float64 `json:"score"`  // rank: goroutines × (1 + minutes waited), ×10 when proven leaked
	Groups []Group `json:"groups"` // the matching groups, highest score first, at most 5
}

// Catalogue returns the known leak patterns, in the order Diagnose tries
// them (a group is explained by the first that matches).
func Catalogue() []Pattern {
	ps := rules()
	out := make([]Pattern, len(ps))
	for i, r := range ps {
		out[i] = r.Pattern
	}
	return out
}

type rule struct {
	Pattern
	match func(d *diag, g Group) (why string, ok bool)
}

// diag is what rules know about the whole dump.
type diag struct {
	poolSize   int
	pool       PoolStats
	liveUpdate map[string]bool  // update ids some goroutine is still handling
	idLabels   map[int64]string // goroutine id → LabelBot value (debug=2)
	tidygram   bool             // some goroutine carries LabelBot
}

func rules() []rule {
	leakedState := func(prefixes ...string) func(*diag, Group) (string, bool) {
		return func(_ *diag, g Group) (string, bool) {
			if g.Leaked == 0 {
				return "", false
			}
			for _, p := range prefixes {
				if strings.HasPrefix(g.State, p) {
					return fmt.Sprintf("%d goroutine(s) proven leaked in %q at %s%s", g.Leaked, g.State, userFrame(g), ownerSuffix(g)), true
				}
			}
			return "", false
		}
	}
	return []rule{
		{Pattern{"body-not-closed", "HTTP response bodies not closed",
			"Close every response body on every path: defer resp.Body.Close() right after the error check; drain it first (io.Copy(io.Discard, io.LimitReader(resp.Body, 256<<10))) so the connection is reused. In tidygram handlers use leak.Tracker's client to be told who forgot."},
			func(d *diag, g Group) (string, bool) {
				role := g.PoolRole()
				if role != PoolBody && role != PoolReader && role != PoolWriter {
					return "", false
				}
				if g.Leaked > 0 {
					return fmt.Sprintf("%d connection goroutine(s) proven leaked: their response bodies were dropped without Close", g.Leaked), true
				}
				if d.pool.Bodies > d.poolSize {
					return fmt.Sprintf("%d client connections, %d of them waiting for their response body to be closed, against a pool of %d",
						d.pool.Conns, d.pool.Bodies, d.poolSize), true
				}
				return "", false
			}},
		{Pattern{"idle-conns", "Connections far above the pool size",
			"Share one http.Client (and Transport) for the whole program instead of one per request; set Transport.IdleConnTimeout and MaxIdleConnsPerHost; call CloseIdleConnections when a Transport is dropped."},
			func(d *diag, g Group) (string, bool) {
				role := g.PoolRole()
				if (role == PoolReader || role == PoolWriter) && d.pool.Conns > 2*d.poolSize {
					return fmt.Sprintf("%d client connections, mostly idle, against a pool of %d", d.pool.Conns, d.poolSize), true
				}
				return "", false
			}},
		{Pattern{"dial-stuck", "Dials that do not finish",
			"Give the Dialer a Timeout and the Transport a TLSHandshakeTimeout; pass a context with a deadline to every request."},
			func(_ *diag, g Group) (string, bool) {
				if g.PoolRole() == PoolDial && g.Wait >= 1 {
					return fmt.Sprintf("%d dial(s) waiting %d min", g.Count, g.Wait), true
				}
				return "", false
			}},
		{Pattern{"leaked-send", "Sender stuck on a channel nobody reads",
			"The receiver returned early (timeout, error) and left the sender blocked: make the channel buffered (make(chan T, 1)) or send in a select with <-ctx.Done()."},
			leakedState("chan send")},
		{Pattern{"leaked-receive", "Receiver stuck on a channel nobody will send on or close",
			"Close the channel when the producer is done, or receive in a select with <-ctx.Done(); if it waits on ctx.Done() of a context.WithCancel, the cancel function was dropped: call it (go vet's lostcancel finds these)."},
			leakedState("chan receive")},
		{Pattern{"leaked-select", "select on channels nobody can reach",
			"Add a case <-ctx.Done(): return, with a context that is cancelled when the work is over."},
			leakedState("select")},
		{Pattern{"leaked-mutex", "Waiting for a mutex that is never unlocked",
			"A function returned with the lock held (an error path without Unlock): lock and defer mu.Unlock() on the next line."},
			leakedState("sync.Mutex", "sync.RWMutex")},
		{Pattern{"leaked-waitgroup", "WaitGroup.Wait that will never return",
			"Add and Done do not balance: call wg.Add before the go statement, defer wg.Done() first thing in the goroutine (or use wg.Go)."},
			leakedState("sync.WaitGroup")},
		{Pattern{"leaked-cond", "Cond.Wait never signalled",
			"Signal or Broadcast on every path that changes the condition, or use a channel with a select on ctx.Done()."},
			leakedState("sync.Cond")},
		{Pattern{"proven", "Goroutines the GC proved leaked",
			"They wait on a channel or lock that no running goroutine can reach: find the other end at the creation site and give the goroutine a way out (ctx.Done(), a closed channel)."},
			func(_ *diag, g Group) (string, bool) {
				if g.Leaked > 0 {
					return fmt.Sprintf("%d goroutine(s) proven leaked at %s", g.Leaked, userFrame(g)), true
				}
				return "", false
			}},
		{Pattern{"select-forever", "select {} blocks forever",
			"Never park a goroutine with select {}: wait for <-ctx.Done() so it can be stopped."},
			stateIs("select (no cases)")},
		{Pattern{"nil-chan", "Operation on a nil channel blocks forever",
			"The channel was never made (var ch chan T): make it, or remove the operation."},
			func(_ *diag, g Group) (string, bool) {
				if strings.HasSuffix(g.State, "(nil chan)") {
					return fmt.Sprintf("%d goroutine(s) in %q at %s", g.Count, g.State, userFrame(g)), true
				}
				return "", false
			}},
		{Pattern{"sleep-loop", "time.Sleep loop that cannot be stopped",
			"Replace time.Sleep in a loop with a time.Ticker (defer t.Stop()) and a select on <-ctx.Done(); in tidygram run it with c.Go."},
			func(_ *diag, g Group) (string, bool) {
				if topFunc(g.Stack) == "time.Sleep" && !tidygramOwned(g) {
					return fmt.Sprintf("%d goroutine(s) sleeping in %s%s", g.Count, userFrame(g), ownerSuffix(g)), true
				}
				return "", false
			}},
		{Pattern{"outlived-update", "Handler goroutines alive after their update ended",
			"A goroutine a handler started with go outlived the update. Start background work with c.Go (owned, cancelled at stop, awaited) and make it return on <-ctx.Done(); or wait for it before the handler returns."},
			func(d *diag, g Group) (string, bool) {
				h, u := g.Labels[LabelHandler], g.Labels[LabelUpdateID]
				if h == "" || u == "" || g.Labels[LabelComponent] == "background" || g.PoolRole() != "" || d.liveUpdate[u] || handling(g) {
					return "", false
				}
				return fmt.Sprintf("handler %s, update %s: %d goroutine(s) at %s, no goroutine handles that update any more", h, u, g.Count, userFrame(g)), true
			}},
		{Pattern{"mutex-held", "Waiting for a mutex for minutes",
			"A lock is held across a slow call or never released (deadlock): keep critical sections short, defer Unlock, never take two locks in different orders."},
			func(_ *diag, g Group) (string, bool) {
				if strings.HasPrefix(g.State, "sync.") && strings.Contains(g.State, "Lock") && g.Wait >= 10 {
					return fmt.Sprintf("%d goroutine(s) in %q for %d min at %s", g.Count, g.State, g.Wait, userFrame(g)), true
				}
				return "", false
			}},
		{Pattern{"blocked-hours", "Blocked on a channel for an hour or more",
			"The other end is gone or will never come: select on <-ctx.Done() next to the channel, and close channels when the producer is done."},
			func(_ *diag, g Group) (string, bool) {
				if (g.State == "chan receive" || g.State == "chan send" || g.State == "select") && g.Wait >= 60 && !tidygramOwned(g) {
					return fmt.Sprintf("%d goroutine(s) in %q for %d min at %s", g.Count, g.State, g.Wait, userFrame(g)), true
				}
				return "", false
			}},
		{Pattern{"lost-labels", "Goroutines without tidygram's owner labels",
			"Code replaced the handler's pprof labels (pprof.Do or SetGoroutineLabels with context.Background()), so its goroutines have no owner: derive from the handler's context (pprof.Do(c, …)) and start background work with c.Go."},
			func(d *diag, g Group) (string, bool) {
				if !d.tidygram || g.Labels[LabelBot] != "" || g.Labels[TestLabel] != "" || g.PoolRole() != "" {
					return "", false
				}
				if len(g.Labels) > 0 {
					return fmt.Sprintf("%d goroutine(s) labelled %s only, at %s", g.Count, labelString(g.Labels), userFrame(g)), true
				}
				if bot := d.creatorBot(g); bot != "" {
					return fmt.Sprintf("%d unlabelled goroutine(s) created by %s in a goroutine of bot %s", g.Count, g.CreatedBy.Func, bot), true
				}
				return "", false
			}},
		{Pattern{"ticker-loop", "Goroutines that keep waking up and never exit",
			"Likely a time.Ticker or time.After loop without a way out: stop the ticker (defer t.Stop()) and return on <-ctx.Done(); in tidygram run periodic work with c.Go."},
			func(_ *diag, g Group) (string, bool) {
				if (g.State == "chan receive" || g.State == "select") && g.Wait == 0 && g.Count >= 3 && !tidygramOwned(g) && g.PoolRole() == "" && g.Leaked == 0 {
					return fmt.Sprintf("%d identical goroutine(s) in %q that woke within the last minute, at %s", g.Count, g.State, userFrame(g)), true
				}
				return "", false
			}},
		{Pattern{"server-conns", "HTTP server connections pile up",
			"Set http.Server ReadHeaderTimeout, ReadTimeout and IdleTimeout so idle or slow clients are dropped; Shutdown the server when done."},
			func(_ *diag, g Group) (string, bool) {
				if strings.HasPrefix(g.Origin().Func, "net/http.(*conn).serve") && g.Count >= 100 {
					return fmt.Sprintf("%d server connection goroutine(s)", g.Count), true
				}
				return "", false
			}},
	}
}

// ownerSuffix names the handler and update of g, if any.
func ownerSuffix(g Group) string {
	if h := g.Labels[LabelHandler]; h != "" {
		return fmt.Sprintf(" (handler %s, update %s)", h, g.Labels[LabelUpdateID])
	}
	return ""
}

func stateIs(state string) func(*diag, Group) (string, bool) {
	return func(_ *diag, g Group) (string, bool) {
		if g.State == state {
			return fmt.Sprintf("%d goroutine(s) in %q at %s", g.Count, g.State, userFrame(g)), true
		}
		return "", false
	}
}

// creatorBot returns the LabelBot label of a goroutine that created some of
// g's goroutines, when the dump holds one (debug=2 with labels).
func (d *diag) creatorBot(g Group) string {
	for _, id := range g.CreatorIDs {
		if bot := d.idLabels[id]; bot != "" {
			return bot
		}
	}
	return ""
}

// tidygramOwned reports goroutines of tidygram's own components.
func tidygramOwned(g Group) bool {
	c := g.Labels[LabelComponent]
	return g.Labels[LabelBot] != "" && c != "" && c != "handler" && c != "background"
}

// handling reports whether g is a worker still running a handler.
func handling(g Group) bool {
	return slices.ContainsFunc(g.Stack, func(f Frame) bool { return strings.Contains(f.Func, "tidygram.(*Bot).handle") })
}

// userFrame returns the innermost frame outside the runtime and the
// standard library's waiting functions, for "at …" in explanations.
func userFrame(g Group) string {
	for _, f := range g.Stack {
		if !strings.HasPrefix(f.Func, "runtime.") && !strings.HasPrefix(f.Func, "time.Sleep") && !strings.HasPrefix(f.Func, "sync.") && !strings.HasPrefix(f.Func, "internal/") {
			return f.String()
		}
	}
	return g.Origin().String()
}

// Score ranks a group: goroutines × (1 + minutes waited), ×10 when the GC
// proved them leaked.
func (g Group) Score() float64 {
	s := float64(g.Count) * float64(1+g.Wait)
	if g.Leaked > 0 {
		s *= 10
	}
	return s
}

// DiagnoseOption configures Diagnose and Analyze.
type DiagnoseOption func(*diag)

// WithPoolSize sets the connection pool size the HTTP patterns compare
// with (default 18).
func WithPoolSize(n int) DiagnoseOption { return func(d *diag) { d.poolSize = n } }

// Diagnose explains groups with the catalogue: each group is matched by
// the first pattern that fits; findings are ranked by score.
func Diagnose(groups []Group, opts ...DiagnoseOption) []Finding {
	d := &diag{poolSize: DefaultPoolSize, liveUpdate: map[string]bool{}, idLabels: map[int64]string{}}
	for _, o := range opts {
		o(d)
	}
	_, d.pool = SplitPool(groups)
	for _, g := range groups {
		if bot := g.Labels[LabelBot]; bot != "" {
			d.tidygram = true
			for _, id := range g.IDs {
				d.idLabels[id] = bot
			}
		}
		if u := g.Labels[LabelUpdateID]; u != "" && handling(g) {
			d.liveUpdate[u] = true
		}
	}
	rs := rules()
	found := map[string]*Finding{}
	var order []string
	for _, g := range groups {
		for _, r := range rs {
			why, ok := r.match(d, g)
			if !ok {
				continue
			}
			f, seen := found[r.ID]
			if !seen {
				f = &Finding{Pattern: r.Pattern, Why: why}
				found[r.ID] = f
				order = append(order, r.ID)
			}
			f.Count += g.Count
			f.Score += g.Score()
			f.Groups = append(f.Groups, g)
			break
		}
	}
	out := make([]Finding, 0, len(order))
	byScore := func(a, b Group) int { return cmp.Compare(b.Score(), a.Score()) }
	for _, id := range order {
		f := found[id]
		// Show the goroutines of one place over many updates as one
		// group, and explain by the worst.
		f.Groups = MergeUpdates(f.Groups)
		sortStableFunc(f.Groups, byScore)
		for _, r := range rs {
			if r.ID == f.ID {
				if why, ok := r.match(d, f.Groups[0]); ok {
					f.Why = why
				}
			}
		}
		f.Groups = f.Groups[:min(len(f.Groups), 5)]
		out = append(out, *f)
	}
	sortStableFunc(out, func(a, b Finding) int { return cmp.Compare(b.Score, a.Score) })
	return out
}

// Analysis is a dump explained: totals, owners, pool, ranked groups and
// findings.
type Analysis struct {
	Kind     string       `json:"kind"`
	Debug    int          `json:"debug"`
	Total    int          `json:"total"`
	Leaked   int          `json:"leaked"`
	Owners   []OwnerCount `json:"owners"`
	Pool     PoolStats    `json:"pool"`
	Groups   []Group      `json:"groups"` // merged over updates, by score, highest first
	Findings []Finding    `json:"findings"`
}

// Analyze explains a dump. Groups are merged over updates (MergeUpdates)
// and ranked by score; pool goroutines are counted in Pool and ranked with
// the rest.
func Analyze(d *Dump, opts ...DiagnoseOption) Analysis {
	a := Analysis{Kind: d.Kind, Debug: d.Debug, Total: d.Total(), Owners: ByOwner(d.Groups)}
	_, a.Pool = SplitPool(d.Groups)
	a.Pool.Groups = nil
	a.Groups = MergeUpdates(d.Groups)
	sortStableFunc(a.Groups, func(x, y Group) int { return cmp.Compare(y.Score(), x.Score()) })
	for _, g := range d.Groups {
		a.Leaked += g.Leaked
	}
	a.Findings = Diagnose(d.Groups, opts...)
	return a
}

// WriteText writes a report for people: totals, owners, the pool, the
// findings with their fixes, and the top groups (top ≤ 0: all).
func (a Analysis) WriteText(w io.Writer, top int) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d goroutines (%s profile, debug=%d)", a.Total, a.Kind, a.Debug)
	if a.Leaked > 0 {
		fmt.Fprintf(&sb, ", %d proven leaked", a.Leaked)
	}
	sb.WriteString("\n\nBy owner:\n")
	for _, o := range a.Owners {
		fmt.Fprintf(&sb, "  %6d  %s\n", o.Count, o.Owner)
	}
	if a.Pool.Conns+a.Pool.Dials+a.Pool.Other > 0 {
		fmt.Fprintf(&sb, "\nHTTP client pool: %d connection(s), %d waiting for a body to be closed, %d dial(s), %d other\n",
			a.Pool.Conns, a.Pool.Bodies, a.Pool.Dials, a.Pool.Other)
	}
	if len(a.Findings) == 0 {
		sb.WriteString("\nNo known leak pattern found.\n")
	}
	for i, f := range a.Findings {
		fmt.Fprintf(&sb, "\n%d. %s [%s] — %d goroutine(s)\n   why: %s\n   fix: %s\n", i+1, f.Title, f.ID, f.Count, f.Why, f.Fix)
		for _, g := range f.Groups[:min(len(f.Groups), 3)] {
			sb.WriteString(indent(groupText(g), "   "))
		}
	}
	gs := a.Groups
	if top > 0 && len(gs) > top {
		gs = gs[:top]
	}
	fmt.Fprintf(&sb, "\nTop %d of %d group(s) by score:\n", len(gs), len(a.Groups))
	for _, g := range gs {
		sb.WriteString(indent(groupText(g), "  "))
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

func groupText(g Group) string {
	var sb strings.Builder
	formatGroup(&sb, g)
	return sb.String()
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var sb strings.Builder
	for _, l := range lines {
		if l != "" {
			sb.WriteString(prefix + l)
		}
	}
	return sb.String()
}
