package heap

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Verdict is what a site's in-use memory did over the profiles compared.
type Verdict string

// Verdicts, from the most to the least worrying.
const (
	// VerdictLeak: in-use bytes grew by at least the minimum growth and
	// never fell back by more than half of it from one profile to the
	// next — the memory survives garbage collections.
	VerdictLeak Verdict = "leak"
	// VerdictGrowing: in-use bytes grew by the minimum growth but fell
	// back on the way (a cache warming up, a burst being worked off).
	VerdictGrowing Verdict = "growing"
	// VerdictChurn: at least four times the minimum growth allocated, at
	// least ten times what in-use changed, and in-use flat: garbage, a
	// cost in GC work and not a leak.
	VerdictChurn Verdict = "churn"
	// VerdictShrinking: in-use bytes fell by the minimum growth or more.
	VerdictShrinking Verdict = "shrinking"
	// VerdictSteady: none of the above.
	VerdictSteady Verdict = "steady"
	// VerdictHeld: a site of a single profile, holding memory (Analyze).
	VerdictHeld Verdict = "held"
)

func (v Verdict) rank() int {
	return slices.Index([]Verdict{VerdictLeak, VerdictGrowing, VerdictHeld, VerdictChurn, VerdictShrinking, VerdictSteady}, v)
}

// Growth is one site compared over two or more profiles.
type Growth struct {
	Site
	Verdict           Verdict `json:"verdict"`
	Why               string  `json:"why"`
	InuseDelta        int64   `json:"inuse_bytes_delta"`
	InuseObjectsDelta int64   `json:"inuse_objects_delta"`
	AllocDelta        int64   `json:"alloc_bytes_delta"`
	AllocObjectsDelta int64   `json:"alloc_objects_delta"`
	RatePerMin        float64 `json:"inuse_bytes_per_min"` // InuseDelta over the span (0 when the profiles carry no time)
	Series            []int64 `json:"inuse_bytes_series"`  // in-use bytes in each profile
}

// Diff is the growth between heap profiles, by site.
type Diff struct {
	From     string        `json:"from,omitempty"`
	To       string        `json:"to,omitempty"`
	Span     time.Duration `json:"span_ns"`
	Profiles int           `json:"profiles"`
	Before   Values        `json:"before"` // totals of the first profile
	After    Values        `json:"after"`  // of the last
	// Runtime are the runtime's own figures at the first and the last
	// profile, to cross-check the sampled ones.
	Runtime  [2]Runtime `json:"runtime"`
	Leaks    int        `json:"leaks"` // sites with verdict leak
	Churn    int        `json:"churn"` // sites with verdict churn
	Sites    []Growth   `json:"sites"` // sites that are not steady, worst first (at most the top)
	Findings []Finding  `json:"findings"`
}

// Series compares heap profiles of one process taken over time, keeping
// only each site's figures (not the profiles): memory grows with sites ×
// profiles. It is not safe for concurrent use.
type Series struct {
	c       *config
	n       int
	times   []time.Time
	totals  []Values
	runtime []Runtime
	sites   map[string]*track
}

type track struct {
	site  Site
	first Values  // at the first profile (zero if the site appeared later)
	inuse []int64 // in-use bytes per profile
}

// NewSeries returns an empty Series.
func NewSeries(opts ...Option) (*Series, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Series{c: c, sites: map[string]*track{}}, nil
}

// Add appends a profile, taken after the previous ones, and the runtime's
// figures at that moment (a zero Runtime: the profile's own; the
// profile's in-use bytes are filled in either way).
func (s *Series) Add(p *Profile, rt Runtime) {
	if rt.Source == "" {
		rt = profileRuntime(p)
	}
	rt.ProfileInuse, _ = InUse(p)
	var total Values
	seen := map[string]bool{}
	for k, site := range s.c.sites(p) {
		for i, v := range site.Values {
			total[i] += v
		}
		seen[k] = true
		t, ok := s.sites[k]
		if !ok {
			t = &track{site: *site, inuse: make([]int64, s.n)}
			if s.n == 0 {
				t.first = site.Values
			}
			s.sites[k] = t
		}
		t.site.Values = site.Values
		t.inuse = append(t.inuse, site.Values[InuseSpace])
	}
	for k, t := range s.sites {
		if !seen[k] {
			t.inuse = append(t.inuse, 0)
			t.site.Values[InuseSpace], t.site.Values[InuseObjects] = 0, 0
		}
	}
	s.n++
	s.times = append(s.times, p.Time)
	s.totals = append(s.totals, total)
	s.runtime = append(s.runtime, rt)
}

// Len returns the number of profiles added.
func (s *Series) Len() int { return s.n }

// Diff gives every site its verdict over the profiles added so far (at
// least two) and explains the growing ones.
func (s *Series) Diff() (*Diff, error) {
	if s.n < 2 {
		return nil, fmt.Errorf("heap: a diff needs two profiles or more, have %d", s.n)
	}
	d := &Diff{Profiles: s.n, Before: s.totals[0], After: s.totals[s.n-1], Runtime: [2]Runtime{s.runtime[0], s.runtime[s.n-1]}}
	t0, t1 := s.times[0], s.times[s.n-1]
	if !t0.IsZero() && t1.After(t0) {
		d.From, d.To, d.Span = t0.UTC().Format(time.RFC3339), t1.UTC().Format(time.RFC3339), t1.Sub(t0)
	}
	var all []Growth
	for _, t := range s.sites {
		g := s.judge(t, d.Span)
		switch g.Verdict {
		case VerdictLeak:
			d.Leaks++
		case VerdictChurn:
			d.Churn++
		}
		if g.Verdict != VerdictSteady {
			all = append(all, g)
		}
	}
	slices.SortFunc(all, func(a, b Growth) int {
		if c := cmp.Compare(a.Verdict.rank(), b.Verdict.rank()); c != 0 {
			return c
		}
		if a.Verdict == VerdictChurn {
			return cmp.Compare(b.AllocDelta, a.AllocDelta)
		}
		if c := cmp.Compare(abs(b.InuseDelta), abs(a.InuseDelta)); c != 0 {
			return c
		}
		return cmp.Compare(a.Key(), b.Key())
	})
	d.Findings = diagnose(all)
	d.Sites = all[:min(len(all), s.c.top)]
	return d, nil
}

func abs(n int64) int64 { return max(n, -n) }

// judge gives t its verdict.
func (s *Series) judge(t *track, span time.Duration) Growth {
	last := t.site.Values
	g := Growth{Site: t.site, Series: t.inuse,
		InuseDelta: last[InuseSpace] - t.first[InuseSpace], InuseObjectsDelta: last[InuseObjects] - t.first[InuseObjects],
		AllocDelta: last[AllocSpace] - t.first[AllocSpace], AllocObjectsDelta: last[AllocObjects] - t.first[AllocObjects]}
	if span > 0 {
		g.RatePerMin = float64(g.InuseDelta) / span.Minutes()
	}
	min := s.c.minGrowth
	drops := 0
	for i := 1; i < len(t.inuse); i++ {
		if t.inuse[i] < t.inuse[i-1]-min/2 {
			drops++
		}
	}
	steps := len(t.inuse) - 1
	switch {
	case g.InuseDelta >= min && drops == 0:
		g.Verdict = VerdictLeak
		g.Why = fmt.Sprintf("in use %s → %s over %d profile(s), never falling back", fmtBytes(t.first[InuseSpace]), fmtBytes(last[InuseSpace]), s.n)
	case g.InuseDelta >= min:
		g.Verdict = VerdictGrowing
		g.Why = fmt.Sprintf("in use %s → %s, but fell back in %d of %d step(s)", fmtBytes(t.first[InuseSpace]), fmtBytes(last[InuseSpace]), drops, steps)
	case g.InuseDelta <= -min:
		g.Verdict = VerdictShrinking
		g.Why = fmt.Sprintf("in use %s → %s", fmtBytes(t.first[InuseSpace]), fmtBytes(last[InuseSpace]))
	case g.AllocDelta >= s.c.minChurn && g.AllocDelta >= 10*abs(g.InuseDelta):
		g.Verdict = VerdictChurn
		g.Why = fmt.Sprintf("%s in %d object(s) allocated, in use flat (%s)", fmtBytes(g.AllocDelta), g.AllocObjectsDelta, FormatDelta(g.InuseDelta))
	default:
		g.Verdict = VerdictSteady
	}
	return g
}

// Compare is a Series of two profiles: the growth from before to after.
func Compare(before, after *Profile, opts ...Option) (*Diff, error) {
	s, err := NewSeries(opts...)
	if err != nil {
		return nil, err
	}
	s.Add(before, Runtime{})
	s.Add(after, Runtime{})
	return s.Diff()
}

// Growing returns the sites with verdict leak or growing.
func (d *Diff) Growing() []Growth {
	var out []Growth
	for _, g := range d.Sites {
		if g.Verdict == VerdictLeak || g.Verdict == VerdictGrowing {
			out = append(out, g)
		}
	}
	return out
}

// FormatDelta formats a change of n bytes with its sign: "+1.50 MiB".
func FormatDelta(n int64) string {
	if n >= 0 {
		return "+" + fmtBytes(n)
	}
	return fmtBytes(n)
}

// fmtBytes formats n bytes as B, KiB, MiB or GiB.
func fmtBytes(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	f := float64(n)
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%s%.2f GiB", sign, f/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%s%.2f MiB", sign, f/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", sign, f/(1<<10))
	}
	return fmt.Sprintf("%s%d B", sign, n)
}

// FormatBytes formats n bytes for people (B, KiB, MiB, GiB).
func FormatBytes(n int64) string { return fmtBytes(n) }
