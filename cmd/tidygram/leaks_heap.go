package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/heap"
)

// errHeapGrowth is returned by --watch --heap on sustained heap growth
// (exit status 1).
var errHeapGrowth = errors.New("sustained heap growth")

// defaultMaxHeap is --max-heap-growth's default: the watchdog's.
const defaultMaxHeap = "4MiB/min"

// routeFlag collects --route ROUTE=FUNC.
type routeFlag []heap.Option

func (r *routeFlag) String() string { return "" }

func (r *routeFlag) Set(v string) error {
	route, fn, ok := strings.Cut(v, "=")
	if !ok || route == "" || fn == "" {
		return fmt.Errorf("want ROUTE=FUNC, e.g. photo=main.savePhoto; got %q", v)
	}
	*r = append(*r, heap.WithRouteFunc(route, fn))
	return nil
}

func (f leaksFlags) heapOptions() ([]heap.Option, error) {
	min, err := parseBytes(f.minGrowth)
	if err != nil {
		return nil, fmt.Errorf("%w: --min-growth: %v", errUsage, err)
	}
	return append([]heap.Option{heap.WithTop(max(f.top, 1)), heap.WithMinGrowth(max(int64(min), 1))}, f.routes...), nil
}

// withRoutes puts the route names the inputs' ops servers gave before
// opts, so that --route overrides them.
func withRoutes(opts []heap.Option, ins ...input) []heap.Option {
	var all []heap.Option
	for _, in := range ins {
		all = append(all, in.routes...)
	}
	return append(all, opts...)
}

func printHeap(w io.Writer, f leaksFlags, opts []heap.Option, in input) error {
	r, err := heap.Analyze(in.heap, withRoutes(opts, in)...)
	if err != nil {
		return err
	}
	if in.rt.Source != "" {
		r.Runtime = in.rt
	}
	if f.json {
		return writeJSON(w, r)
	}
	return r.WriteText(w)
}

func printHeapDiff(w io.Writer, f leaksFlags, opts []heap.Option, a, b input) error {
	s, err := heap.NewSeries(withRoutes(opts, a, b)...)
	if err != nil {
		return err
	}
	s.Add(a.heap, a.rt)
	s.Add(b.heap, b.rt)
	d, err := s.Diff()
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(w, d)
	}
	return d.WriteText(w)
}

// heapWatchReport is the JSON form of --watch --heap.
type heapWatchReport struct {
	Samples   []leak.Sample `json:"samples"` // heap_live_bytes: the profile's in-use bytes
	Rate      float64       `json:"rate_bytes_per_min"`
	Limit     float64       `json:"limit_bytes_per_min"`
	Sustained bool          `json:"sustained"`
	Diff      *heap.Diff    `json:"diff"` // first profile to last, by site
}

// watchHeap samples the heap profile at f.watch every f.every for f.dur
// and fails when the in-use heap grows steadily faster than the limit,
// naming the growing sites.
func watchHeap(ctx context.Context, f leaksFlags, w io.Writer, opts []heap.Option) error {
	limitText := f.maxHeap
	if limitText == "" {
		limitText = defaultMaxHeap
	}
	limit, err := parseByteRate(limitText)
	if err != nil {
		return fmt.Errorf("%w: --max-heap-growth: %v", errUsage, err)
	}
	series, err := heap.NewSeries(withRoutes(opts, input{routes: f.serverRoutes(ctx, f.watch)})...)
	if err != nil {
		return err
	}
	r := heapWatchReport{Limit: limit}
	err = sampleFor(ctx, f, func(in input, now time.Time, since time.Duration) error {
		if in.heap == nil {
			return fmt.Errorf("%s: not a heap profile (a goroutine dump): drop --heap, or give the heap profile's URL", f.watch)
		}
		series.Add(in.heap, in.rt)
		inuse, _ := heap.InUse(in.heap)
		r.Samples = append(r.Samples, leak.Sample{Time: now, Goroutines: -1, HeapLive: float64(inuse), FDs: -1})
		if !f.json {
			fmt.Fprintf(w, "%8s  %s in use\n", since.Round(time.Millisecond), heap.FormatBytes(inuse))
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Rate, r.Sustained = leak.GrowthRate(r.Samples, func(s leak.Sample) float64 { return s.HeapLive }, limit)
	if r.Diff, err = series.Diff(); err != nil {
		return err
	}
	if f.json {
		if err := writeJSON(w, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "\n%d samples: in-use heap %s/min (limit %s/min), sustained: %v\n\n",
			len(r.Samples), heap.FormatBytes(int64(r.Rate)), heap.FormatBytes(int64(limit)), r.Sustained)
		if err := r.Diff.WriteText(w); err != nil {
			return err
		}
	}
	if !r.Sustained {
		return nil
	}
	var names []string
	for _, g := range r.Diff.Growing() {
		names = append(names, g.Where()+" "+heap.FormatDelta(g.InuseDelta))
	}
	if len(names) == 0 {
		names = append(names, "no single site above --min-growth")
	}
	return fmt.Errorf("%w: %s/min over %s, limit %s/min; growing: %s", errHeapGrowth,
		heap.FormatBytes(int64(r.Rate)), f.dur, heap.FormatBytes(int64(limit)), strings.Join(names, "; "))
}

// parseBytes parses "4MiB", "512KiB", "1.5GB" or "1048576" into bytes.
func parseBytes(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := strings.TrimSpace(s), 1.0
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size such as 512KiB, 4MiB or 1GB; got %q", s)
	}
	return n * mult, nil
}

// parseByteRate parses "4MiB/min", "64KiB/s" or "1GB/h" into bytes per
// minute.
func parseByteRate(s string) (float64, error) {
	size, per, _ := strings.Cut(s, "/")
	n, err := parseBytes(size)
	if err != nil {
		return 0, err
	}
	if per == "" {
		per = "min"
	}
	return parseRate(strconv.FormatFloat(n, 'g', -1, 64) + "/" + per)
}
