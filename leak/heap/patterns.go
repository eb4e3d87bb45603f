package heap

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/tidygram/tidygram/leak"
)

// Finding is a pattern of the catalogue found at one or more sites.
type Finding struct {
	leak.Pattern
	Why   string   `json:"why"`   // what matched, at the worst site
	Bytes int64    `json:"bytes"` // in-use growth (or in-use bytes, for one profile; allocated bytes, for churn) of the sites matched
	Sites []Growth `json:"sites"` // the sites matched, worst first, at most 5
}

type heapRule struct {
	leak.Pattern
	match func(g Growth) (why string, ok bool)
}

// Catalogue returns the heap patterns in the order they are tried (a site
// is explained by the first that matches).
func Catalogue() []leak.Pattern {
	rs := heapRules()
	out := make([]leak.Pattern, len(rs))
	for i, r := range rs {
		out[i] = r.Pattern
	}
	return out
}

func kept(g Growth) bool {
	return g.Verdict == VerdictLeak || g.Verdict == VerdictGrowing || g.Verdict == VerdictHeld
}

// calls returns the first of the site's inner frames (from the leaf to the
// site) whose function name starts with one of fns, or "".
func (g Growth) calls(fns ...string) string {
	for _, f := range g.inner {
		for _, p := range fns {
			if strings.HasPrefix(f, p) {
				return f
			}
		}
	}
	return ""
}

// amount describes the site's figure the pattern is about.
func amount(g Growth) string {
	switch g.Verdict {
	case VerdictHeld:
		return fmt.Sprintf("%s in use in %d object(s)", fmtBytes(g.InuseDelta), g.Values[InuseObjects])
	case VerdictChurn:
		return fmt.Sprintf("%s allocated, in use flat", fmtBytes(g.AllocDelta))
	}
	return fmt.Sprintf("in use %s (%d object(s))", FormatDelta(g.InuseDelta), g.InuseObjectsDelta)
}

func heapRules() []heapRule {
	return []heapRule{
		{leak.Pattern{ID: "read-whole", Title: "A body or file read whole into memory",
			Fix: "Stream it instead: io.Copy to where it goes (tg.InputFile takes an io.Reader; tidygram's downloads stream), or cap it with http.MaxBytesReader / io.LimitReader. Keep a file ID or a digest, not the bytes; if the bytes must stay, bound their store (size and TTL)."},
			func(g Growth) (string, bool) {
				fn := g.calls("io.ReadAll", "io/ioutil.ReadAll", "bytes.(*Buffer).ReadFrom", "os.ReadFile", "io/ioutil.ReadFile")
				if fn == "" && g.calls("bytes.(*Buffer).", "strings.(*Builder).") != "" {
					// A download or a copy into a buffer is a read whole too.
					fn = g.calls(module+"/tg.(*Client).Download", "io.Copy", "net/http.")
				}
				if fn == "" || !(kept(g) || g.Verdict == VerdictChurn) {
					return "", false
				}
				if g.Verdict == VerdictChurn {
					return fmt.Sprintf("%s: %s read whole on every call at %s", amount(g), fn, g.Where()), true
				}
				return fmt.Sprintf("%s read by %s and kept, at %s", amount(g), fn, g.Where()), true
			}},
		{leak.Pattern{ID: "time-after-loop", Title: "time.After or a timer made in a loop",
			Fix: "Make one time.Timer (or time.Ticker) before the loop, Reset it each round and defer t.Stop(); select on <-ctx.Done() to leave. Since Go 1.23 unstopped timers are collected, so this is churn; before, each stays until it fires."},
			func(g Growth) (string, bool) {
				fn := g.calls("time.After", "time.NewTimer", "time.NewTicker", "time.Tick")
				if fn == "" || g.Verdict == VerdictShrinking {
					return "", false
				}
				return fmt.Sprintf("%s by %s at %s", amount(g), fn, g.Where()), true
			}},
		{leak.Pattern{ID: "buffer-kept", Title: "A strings.Builder or bytes.Buffer kept across calls",
			Fix: "Make the builder or buffer per call, or Reset it after use; a sync.Pool of buffers must drop those above a size cap (if b.Cap() > 64<<10 { return })."},
			func(g Growth) (string, bool) {
				fn := g.calls("strings.(*Builder).", "bytes.(*Buffer).", "bufio.(*Writer).")
				if fn == "" || !kept(g) {
					return "", false
				}
				return fmt.Sprintf("%s grown by %s at %s", amount(g), fn, g.Where()), true
			}},
		{leak.Pattern{ID: "cache-no-eviction", Title: "A cache without eviction",
			Fix: "Bound the cache by size and age and evict (an LRU with a TTL); for per-user state use tidygram's session store, bounded with a TTL by default; delete entries when their use ends."},
			func(g Growth) (string, bool) {
				if !kept(g) {
					return "", false
				}
				for _, f := range append(slices.Clone(g.inner), g.Handler) {
					if i := strings.LastIndexByte(f, '/'); i >= 0 {
						f = f[i+1:]
					}
					if strings.Contains(strings.ToLower(f), "cache") {
						return fmt.Sprintf("%s in %s, which keeps what it caches: %s", amount(g), f, g.Where()), true
					}
				}
				return "", false
			}},
		{leak.Pattern{ID: "unbounded-collection", Title: "A map or slice that only grows",
			Fix: "Something long-lived (a package variable, a field of a long-lived value) keeps adding entries: delete them when done, give them a TTL (tidygram's session store expires them) or bound the collection (an LRU); never key a global map by update, message or chat without a way to drop entries."},
			func(g Growth) (string, bool) {
				// The runtime leaves its own frames (mapassign, growslice)
				// out of heap profiles; what shows a container growing is
				// its backing array allocated again and again, bigger each
				// time: far more allocated than kept, in few objects.
				alloc, keptBytes, objs := g.AllocDelta, g.InuseDelta, g.InuseObjectsDelta
				if g.Verdict == VerdictHeld {
					alloc, keptBytes, objs = g.Values[AllocSpace], g.Values[InuseSpace], g.Values[InuseObjects]
				}
				if !kept(g) || keptBytes <= 0 || alloc*2 < keptBytes*3 || objs > 0 && keptBytes/objs < 4<<10 {
					return "", false
				}
				return fmt.Sprintf("%s, %s allocated for it: a map or slice re-allocated as it grows, at %s", amount(g), fmtBytes(alloc), g.Where()), true
			}},
		{leak.Pattern{ID: "large-retained", Title: "Large objects kept alive, perhaps by a small sub-slice",
			Fix: "A small part kept of a large array (b[i:j], s[i:j]) keeps the whole array alive: copy the part you keep (bytes.Clone(b[i:j]), strings.Clone(s[i:j])) so the array can be freed; otherwise release the references to the large objects."},
			func(g Growth) (string, bool) {
				objs, bytes := g.InuseObjectsDelta, g.InuseDelta
				if g.Verdict == VerdictHeld {
					objs, bytes = g.Values[InuseObjects], g.Values[InuseSpace]
				}
				if !kept(g) || objs <= 0 || bytes/objs < 32<<10 {
					return "", false
				}
				return fmt.Sprintf("%s, %s each on average, at %s", amount(g), fmtBytes(bytes/objs), g.Where()), true
			}},
		{leak.Pattern{ID: "growing-site", Title: "In-use memory grows at this site",
			Fix: "Something keeps these objects reachable: follow the stack to who stores them (a global, a long-lived struct, a goroutine that never ends) and bound or release it."},
			func(g Growth) (string, bool) {
				if g.Verdict != VerdictLeak {
					return "", false
				}
				return fmt.Sprintf("%s at %s: %s", amount(g), g.Where(), g.Why), true
			}},
	}
}

// diagnose explains sites with the catalogue, ranking findings by bytes.
func diagnose(sites []Growth) []Finding {
	rs := heapRules()
	found := map[string]*Finding{}
	var order []string
	for _, g := range sites {
		for _, r := range rs {
			why, ok := r.match(g)
			if !ok {
				continue
			}
			f := found[r.ID]
			if f == nil {
				f = &Finding{Pattern: r.Pattern, Why: why}
				found[r.ID] = f
				order = append(order, r.ID)
			}
			f.Bytes += weight(g)
			f.Sites = append(f.Sites, g)
			break
		}
	}
	out := make([]Finding, 0, len(order))
	for _, id := range order {
		f := found[id]
		slices.SortStableFunc(f.Sites, func(a, b Growth) int { return cmp.Compare(weight(b), weight(a)) })
		for _, r := range rs {
			if r.ID == id {
				f.Why, _ = r.match(f.Sites[0])
			}
		}
		f.Sites = f.Sites[:min(len(f.Sites), 5)]
		out = append(out, *f)
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Compare(findingRank(b), findingRank(a))
	})
	return out
}

// findingRank puts kept memory before churn, then more bytes first.
func findingRank(f Finding) float64 {
	w := float64(f.Bytes)
	if f.Sites[0].Verdict == VerdictChurn {
		w /= 1 << 20 // churn after any growth
	}
	return w
}

func weight(g Growth) int64 {
	if g.Verdict == VerdictChurn {
		return g.AllocDelta
	}
	return g.InuseDelta
}
