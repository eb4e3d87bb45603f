package ops

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"runtime/metrics"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/router"
)

// Defaults and bounds of the ops page (see the package documentation).
const (
	DefaultSampleInterval = 2 * time.Second
	DefaultSamples        = 300 // 10 minutes at the default interval
	MinSampleInterval     = 10 * time.Millisecond
	MinSamples            = 10
	MaxSamples            = 100_000
	DefaultSessionTTL     = 12 * time.Hour // how long the page's cookie lasts

	maxOwnersPerSample = 8   // owners charted per sample; the rest count as "other"
	profileBudget      = 100 // goroutine profiles take at most 1/profileBudget of the time
	sessionCookie      = "tidygram_ops"
)

// WithSampleInterval sets how often the ops page's sampler reads the
// process and the bot (default 2 s; at least MinSampleInterval). Each
// reading costs a runtime/metrics read and the bot's counters; goroutines
// by owner and the leak catalogue's findings come from a debug=1
// goroutine profile read at most as often as keeps it under 1% of the
// time (measured, a profile of 100 goroutines: 2.3 ms, read every
// sample; of 10,000 of distinct updates: 190 ms, read every 19 s; a
// sample at the default interval then costs 1.5 and 20 ms on average).
func WithSampleInterval(d time.Duration) Option {
	return func(s *Server) { s.sampleEvery = max(d, MinSampleInterval) }
}

// WithSamples sets how many samples the ops page keeps (default 300;
// clamped to [MinSamples, MaxSamples]), in a ring allocated once. A sample
// takes about 0.7 KB with its 9 owners (measured: 607 bytes of owners
// map and names, 96 of struct): 300 samples hold 10 minutes at the
// default interval in about 210 KB.
func WithSamples(n int) Option {
	return func(s *Server) { s.sampleCount = min(max(n, MinSamples), MaxSamples) }
}

//go:embed page
var pageFiles embed.FS

// pageFS returns the embedded page files (index.html, signin.html, the
// script and the style sheet).
func pageFS() fs.FS {
	sub, err := fs.Sub(pageFiles, "page")
	if err != nil {
		panic(err) // the directory is embedded: unreachable
	}
	return sub
}

// sample is one reading of the ops page's ring, in its JSON form.
type sample struct {
	T          int64          `json:"t"`                // Unix milliseconds
	Goroutines int            `json:"goroutines"`       // live goroutines
	Owners     map[string]int `json:"owners,omitempty"` // the largest owners (at most 8), the rest as "other"; absent when no profile was read (see profile)
	HeapInuse  uint64         `json:"heap_inuse"`       // bytes in heap objects, live or not yet swept
	HeapLive   uint64         `json:"heap_live"`        // live heap bytes as of the last GC
	Received   float64        `json:"received_per_s"`   // updates received (not duplicates)
	Updates    float64        `json:"updates_per_s"`    // updates handled
	API        float64        `json:"api_per_s"`        // Bot API calls
	API429     float64        `json:"api_429_per_s"`    // of which answered 429
	P50        *float64       `json:"p50_ms"`           // handler latency over the interval; null when none ended
	P99        *float64       `json:"p99_ms"`
	Spool      *int64         `json:"spool_depth,omitempty"` // updates in the bot's spool; absent without one
}

// sampler keeps the ops page's ring of samples and the leak catalogue's
// latest reading.
type sampler struct {
	mu       sync.Mutex
	ring     []sample  // a fixed capacity, used circularly
	next     int       // where the next sample goes
	n        int       // samples held
	prevT    time.Time // the last sample's; zero before the first
	prev     [4]uint64 // received, handled, API calls, 429s at prevT
	prevLat  uint64
	patterns []finding // the catalogue's findings at the last profile
	// profileDue is when the next goroutine profile may be read.
	profileDue time.Time
}

func newSampler(n int) *sampler { return &sampler{ring: make([]sample, n)} }

// samples returns the samples taken after since (Unix ms), oldest first.
func (p *sampler) samples(since int64) []sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]sample, 0, p.n)
	for i := range p.n {
		s := p.ring[(p.next-p.n+i+len(p.ring))%len(p.ring)]
		if s.T > since {
			out = append(out, s)
		}
	}
	return out
}

// last returns when the newest sample was taken (zero without one).
func (p *sampler) last() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(p.ring[(p.next-1+len(p.ring))%len(p.ring)].T)
}

// runSampler samples every interval until ctx ends.
func (s *Server) runSampler(ctx context.Context) {
	t := time.NewTicker(s.sampleEvery)
	defer t.Stop()
	for {
		s.takeSample(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// takeSample reads the process and the bot and appends a sample.
func (s *Server) takeSample(now time.Time) {
	smp := sample{T: now.UnixMilli()}
	ms := []metrics.Sample{{Name: "/sched/goroutines:goroutines"}, {Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(ms)
	smp.Goroutines, smp.HeapInuse, smp.HeapLive = int(metricUint(ms[0])), metricUint(ms[1]), metricUint(ms[2])
	owners, patterns, profiled := s.profile(now)
	if profiled {
		smp.Owners = owners
	}
	if st := s.metrics.bot(); st != nil && st.Spool != nil {
		d := st.Spool().Depth
		smp.Spool = &d
	}

	p, l := s.page, &s.metrics.live
	p.mu.Lock()
	defer p.mu.Unlock()
	if !now.After(p.prevT) {
		return // a sample racing a later one (two polls at once): the ring stays in time order
	}
	counts := [4]uint64{l.received.Load(), l.handled.Load(), l.apiCalls.Load(), l.api429.Load()}
	if dt := now.Sub(p.prevT).Seconds(); !p.prevT.IsZero() && dt > 0 { // the first sample only starts the counts
		rate := func(i int) float64 { return float64(counts[i]-min(p.prev[i], counts[i])) / dt }
		smp.Received, smp.Updates, smp.API, smp.API429 = rate(0), rate(1), rate(2), rate(3)
	}
	lats, latTo := l.latencies(p.prevLat)
	smp.P50, smp.P99 = quantileMS(lats, 0.50), quantileMS(lats, 0.99)
	p.prevT, p.prev, p.prevLat = now, counts, latTo
	if profiled {
		p.patterns = patterns
	}
	p.ring[p.next] = smp
	p.next = (p.next + 1) % len(p.ring)
	p.n = min(p.n+1, len(p.ring))
}

// profile reads the goroutine profile, by owner, and the leak catalogue's
// findings in it, unless the last reading is too recent for the budget:
// a reading that took d waits profileBudget×d before the next, so that
// profiles take at most 1/profileBudget of the time however many
// goroutines there are (measured: 2.3 ms a sample with 100 goroutines,
// 190 ms with 10,000 each of its own update — read every 19 s).
func (s *Server) profile(now time.Time) (owners map[string]int, patterns []finding, ok bool) {
	p := s.page
	p.mu.Lock()
	due := !now.Before(p.profileDue)
	p.mu.Unlock()
	if !due {
		return nil, nil, false
	}
	start := time.Now()
	groups, err := leak.Snapshot()
	if err != nil {
		return nil, nil, false
	}
	owners = topOwners(leak.ByOwner(groups), maxOwnersPerSample)
	for _, f := range leak.Diagnose(groups, s.diagnoseOptions()...) {
		patterns = append(patterns, patternFinding(f, now))
	}
	p.mu.Lock()
	p.profileDue = now.Add(profileBudget * time.Since(start))
	p.mu.Unlock()
	return owners, patterns, true
}

func metricUint(s metrics.Sample) uint64 {
	if s.Value.Kind() == metrics.KindUint64 {
		return s.Value.Uint64()
	}
	return 0
}

// topOwners keeps the n largest owners and adds the rest up as "other".
func topOwners(owners []leak.OwnerCount, n int) map[string]int {
	m := make(map[string]int, min(len(owners), n+1))
	for i, o := range owners { // largest first
		if i < n {
			m[o.Owner] += o.Count
		} else {
			m["other"] += o.Count
		}
	}
	return m
}

// quantileMS returns the q-quantile of ds in milliseconds (nearest rank),
// nil for none.
func quantileMS(ds []time.Duration, q float64) *float64 {
	if len(ds) == 0 {
		return nil
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := min(int(q*float64(len(sorted))), len(sorted)-1)
	v := float64(sorted[i]) / float64(time.Millisecond)
	return &v
}

func patternFinding(f leak.Finding, now time.Time) finding {
	var owners []string // of the groups it names, highest score first
	for _, g := range f.Groups {
		if o := g.Owner(); !slices.Contains(owners, o) {
			owners = append(owners, o)
		}
	}
	owner := cmp.Or(strings.Join(owners, ", "), f.ID)
	return finding{Kind: "pattern", Owner: owner, At: now, Reports: 1, Count: float64(f.Count),
		Title: f.Title + ": " + f.Why, Detail: "Fix: " + f.Fix + "\n\n" + leak.Format(f.Groups)}
}

// trend is the least-squares growth of the live heap over the ring.
type trend struct {
	BytesPerMin float64 `json:"bytes_per_min"`
	Sustained   bool    `json:"sustained"` // at leak.DefaultHeapLimit per minute or more over the whole span, by the watchdog's rule
	SpanSeconds float64 `json:"span_s"`
}

// heapTrend returns the live heap's trend over samples (nil for fewer than
// 10, the watchdog's minimum).
func heapTrend(samples []sample) *trend {
	if len(samples) < 10 {
		return nil
	}
	ls := make([]leak.Sample, len(samples))
	for i, s := range samples {
		ls[i] = leak.Sample{Time: time.UnixMilli(s.T), HeapLive: float64(s.HeapLive)}
	}
	rate, sustained := leak.GrowthRate(ls, func(s leak.Sample) float64 { return s.HeapLive }, leak.DefaultHeapLimit)
	return &trend{BytesPerMin: rate, Sustained: sustained,
		SpanSeconds: ls[len(ls)-1].Time.Sub(ls[0].Time).Seconds()}
}

// pageState is the JSON of /debug/state.
type pageState struct {
	Now        int64     `json:"now"` // Unix milliseconds
	IntervalMS int64     `json:"interval_ms"`
	Capacity   int       `json:"capacity"` // the ring's bound
	Samples    []sample  `json:"samples"`  // oldest first; those after ?since= (Unix ms) only
	HeapTrend  *trend    `json:"heap_trend,omitempty"`
	Findings   []finding `json:"findings"` // reported (latest first), then the catalogue's reading of the latest sample
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if s.sampling.Load() == 0 && now.Sub(s.page.last()) >= s.sampleEvery {
		s.takeSample(now) // Handler mounted without Serve: sample as the page polls
	}
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	all := s.page.samples(0)
	st := pageState{Now: now.UnixMilli(), IntervalMS: s.sampleEvery.Milliseconds(), Capacity: len(s.page.ring),
		HeapTrend: heapTrend(all), Findings: s.metrics.live.findings()}
	i := sort.Search(len(all), func(i int) bool { return all[i].T > since })
	st.Samples = all[i:]
	s.page.mu.Lock()
	st.Findings = append(st.Findings, s.page.patterns...)
	s.page.mu.Unlock()
	if st.Findings == nil {
		st.Findings = []finding{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// routes answers the routes of the bot the server's Metrics observe, as
// observe.State gave them when it started ([] before): `tidygram leaks`
// names the route of a heap site's handler function with them.
func (s *Server) routes(w http.ResponseWriter, r *http.Request) {
	routes := []router.Route{}
	if st := s.metrics.bot(); st != nil && st.Routes != nil {
		routes = st.Routes
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(routes)
}

// pageHeaders keeps the page and every /debug/ answer out of caches,
// frames and other origins' reach, and the page's scripts to its own
// files.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// servePage answers /debug/: the page with the token or the session
// cookie, else 401 with the sign-in page.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	if !s.hasToken {
		http.NotFound(w, r)
		return
	}
	pageHeaders(w)
	name, code := "index.html", http.StatusOK
	if !s.authorized(r) {
		name, code = "signin.html", http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="tidygram ops"`)
	}
	b, err := fs.ReadFile(pageFS(), name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// serveStatic serves the page's script and style sheet: static files,
// the same for everyone, without the token (the sign-in page needs them).
func (s *Server) serveStatic() http.Handler {
	files := http.FileServerFS(pageFS())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if !s.hasToken || !(strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".css")) {
			http.NotFound(w, r)
			return
		}
		pageHeaders(w)
		w.Header().Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		files.ServeHTTP(w, r2)
	})
}

// startSession answers POST /debug/session (bearer token only) with the
// session cookie the page then runs on.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request) {
	if !s.hasToken {
		http.NotFound(w, r)
		return
	}
	if !s.bearer(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tidygram ops"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	exp := time.Now().Add(s.sessionTTL).Unix()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.sessionValue(exp),
		MaxAge: int(s.sessionTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil,
		// No Path: the browser scopes it to the directory of this URL
		// (/debug, or wherever the handler is mounted).
	})
	pageHeaders(w)
	w.WriteHeader(http.StatusNoContent)
}

// sessionValue is the cookie for a session ending at exp (Unix seconds):
// exp and its HMAC under the server's random session key.
func (s *Server) sessionValue(exp int64) string {
	e := strconv.FormatInt(exp, 10)
	mac := hmac.New(sha256.New, s.sessionKey[:])
	mac.Write([]byte("tidygram ops session " + e))
	return e + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// session reports whether r carries an unexpired session cookie of this
// server.
func (s *Server) session(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	e, _, _ := strings.Cut(c.Value, ".")
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || time.Now().Unix() >= exp {
		return false
	}
	return hmac.Equal([]byte(c.Value), []byte(s.sessionValue(exp)))
}

func newSessionKey() (k [32]byte) {
	_, _ = rand.Read(k[:]) // never fails (crypto/rand)
	return k
}
