package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/heap"
)

const leaksUsage = `Usage:
  tidygram leaks [flags] [FILE | - | URL]     explain a goroutine dump or a heap profile (default: stdin)
  tidygram leaks [flags] --diff A B           show what grew from A to B (two dumps or two heap profiles)
  tidygram leaks [flags] --watch URL          sample URL --for/--every+1 times and exit 1 on sustained growth

The kind of input is told from its bytes. Goroutine dumps of any text form:
/debug/pprof/goroutine?debug=1 (with labels), ?debug=2 (labels only with
GODEBUG=tracebacklabels=1; states, wait minutes, creators), and the
goroutineleak profile: goroutines are grouped by owner and stack, ranked,
and explained from a catalogue of known leak patterns, with the fix.

Heap profiles (/debug/pprof/heap: gzipped protobuf, or ?debug=1 text): the
top allocation sites by in-use bytes and objects, each cut to the frames
that matter (the allocating library function, the program's first frame,
the route handler on the stack). Two or more profiles (--diff, --watch with
--heap) give each site a verdict — leak (in-use grows across GCs) or churn
(allocates much, in-use flat) — beside the runtime's own figures
(HeapAlloc, HeapInuse, NextGC, GC count from the ops server's /metrics;
from the profile alone for files), and explain known patterns (bodies read
whole, maps and caches that only grow, buffers kept, time.After in loops,
large arrays kept by sub-slices) with the fix.

A URL without a path reads tidygram's ops server: /debug/pprof/goroutine
(?debug=1, the view with owner labels; --debug 2 for states and ages), or
with --heap /debug/pprof/heap?gc=1, /metrics and /debug/routes (which
route each handler function serves; --route names one for profile
files). --token (or $TIDYGRAM_OPS_TOKEN) is sent as a bearer token.

Examples:
  tidygram leaks --heap http://127.0.0.1:9464
  tidygram leaks --diff before.pb.gz after.pb.gz --route photo=main.savePhoto
  tidygram leaks --watch http://127.0.0.1:9464 --heap --every 30s --for 10m --max-heap-growth 4MiB/min

Flags:
`

// errGrowth is returned by --watch on sustained growth (exit status 1).
var errGrowth = errors.New("sustained goroutine growth")

type leaksFlags struct {
	token     string
	json      bool
	top       int
	pool      int
	diff      bool
	watch     string
	every     time.Duration
	dur       time.Duration
	maxGrowth string
	debug     int
	heap      bool
	maxHeap   string
	minGrowth string
	routes    routeFlag
}

// runLeaks is the leaks command.
func runLeaks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return leaksMain(ctx, args, os.Stdin, stdout, stderr)
}

func leaksMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var f leaksFlags
	fs := flag.NewFlagSet("leaks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, leaksUsage); fs.PrintDefaults() }
	fs.StringVar(&f.token, "token", os.Getenv("TIDYGRAM_OPS_TOKEN"), "bearer token for URLs (default $TIDYGRAM_OPS_TOKEN)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of text")
	fs.IntVar(&f.top, "top", 10, "how many groups or sites to list")
	fs.IntVar(&f.pool, "pool", leak.DefaultPoolSize, "connection pool size the HTTP patterns compare with")
	fs.BoolVar(&f.diff, "diff", false, "compare two dumps or heap profiles A and B")
	fs.StringVar(&f.watch, "watch", "", "URL to sample")
	fs.DurationVar(&f.every, "every", 10*time.Second, "--watch: sampling interval")
	fs.DurationVar(&f.dur, "for", 5*time.Minute, "--watch: how long to watch")
	fs.StringVar(&f.maxGrowth, "max-growth", "5/min", "--watch: goroutine growth that fails (N/s, N/min or N/h)")
	fs.IntVar(&f.debug, "debug", 1, "goroutine view a bare URL reads: 1 (owner labels) or 2 (states and ages; labels only under GODEBUG=tracebacklabels=1)")
	fs.BoolVar(&f.heap, "heap", false, "a bare URL reads the heap profile (and /metrics) instead of goroutines")
	fs.StringVar(&f.maxHeap, "max-heap-growth", "", "--watch: in-use heap growth that fails, e.g. 4MiB/min (implies --heap; default 4MiB/min)")
	fs.StringVar(&f.minGrowth, "min-growth", "1MiB", "heap: least in-use growth of a site that counts (B, KiB, MiB, GiB)")
	fs.Var(&f.routes, "route", "heap: name the route of a handler function, ROUTE=FUNC (e.g. photo=main.savePhoto); repeatable")
	// Flags may come before, between or after the arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if f.debug != 1 && f.debug != 2 {
		return fmt.Errorf("%w: --debug is 1 or 2", errUsage)
	}
	if f.maxHeap != "" {
		f.heap = true
	}
	hopts, err := f.heapOptions()
	if err != nil {
		return err
	}
	opts := []leak.DiagnoseOption{leak.WithPoolSize(f.pool)}
	switch {
	case f.watch != "":
		if len(pos) > 0 {
			return fmt.Errorf("%w: --watch takes no other argument", errUsage)
		}
		if f.every <= 0 || f.dur < 9*f.every {
			return fmt.Errorf("%w: --for must cover at least 9 intervals of --every", errUsage)
		}
		if f.heap {
			return watchHeap(ctx, f, stdout, hopts)
		}
		limit, err := parseRate(f.maxGrowth)
		if err != nil {
			return fmt.Errorf("%w: --max-growth: %v", errUsage, err)
		}
		return watch(ctx, f, limit, stdout, opts)
	case f.diff:
		if len(pos) != 2 {
			return fmt.Errorf("%w: --diff takes two dumps or profiles", errUsage)
		}
		a, err := f.load(ctx, pos[0], stdin)
		if err != nil {
			return err
		}
		b, err := f.load(ctx, pos[1], stdin)
		if err != nil {
			return err
		}
		switch {
		case a.heap != nil && b.heap != nil:
			return printHeapDiff(stdout, f, hopts, a, b)
		case a.dump != nil && b.dump != nil:
			return printDiff(stdout, a.dump, b.dump, f, opts)
		}
		return fmt.Errorf("%w: --diff of a goroutine dump and a heap profile (%s, %s)", errUsage, a.src, b.src)
	}
	if len(pos) > 1 {
		return fmt.Errorf("%w: one dump at a time (or --diff A B)", errUsage)
	}
	src := "-"
	if len(pos) == 1 {
		src = pos[0]
	}
	in, err := f.load(ctx, src, stdin)
	if err != nil {
		return err
	}
	if in.heap != nil {
		return printHeap(stdout, f, hopts, in)
	}
	a := leak.Analyze(in.dump, opts...)
	if f.json {
		return writeJSON(stdout, a)
	}
	return a.WriteText(stdout, f.top)
}

// input is what load read: a goroutine dump or a heap profile, with the
// runtime's figures when it came from an ops server.
type input struct {
	src    string
	dump   *leak.Dump
	heap   *heap.Profile
	rt     heap.Runtime  // zero: none (the profile's own are used)
	routes []heap.Option // the route names an ops server gave, if any
}

// load reads a dump or a heap profile from a file, stdin ("-") or a URL,
// and tells which it is from its bytes.
func (f leaksFlags) load(ctx context.Context, src string, stdin io.Reader) (input, error) {
	in := input{src: src}
	var data []byte
	var err error
	isURL := strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
	switch {
	case src == "-":
		data, err = io.ReadAll(io.LimitReader(stdin, heap.MaxProfileSize+1))
	case isURL:
		data, err = f.fetch(ctx, src)
	default:
		data, err = readFile(src)
	}
	if err != nil {
		return in, err
	}
	switch heap.Detect(data) {
	case heap.KindProfile:
		if in.heap, err = heap.Parse(data); err != nil {
			return in, fmt.Errorf("%s: %w", src, err)
		}
		if isURL {
			in.rt = f.runtimeFigures(ctx, src, in.heap)
			in.routes = f.serverRoutes(ctx, src)
		}
		return in, nil
	}
	if in.dump, err = leak.Parse(bytes.NewReader(data)); err != nil {
		return in, fmt.Errorf("%s: %w", src, err)
	}
	return in, nil
}

func readFile(name string) ([]byte, error) {
	file, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return io.ReadAll(io.LimitReader(file, heap.MaxProfileSize+1))
}

// opsURL returns raw with the ops server's path for a bare URL: the
// goroutine view (?debug=1 by default) or, with --heap, the heap profile
// after a GC.
func (f leaksFlags) opsURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case (u.Path == "" || u.Path == "/") && f.heap:
		u.Path, u.RawQuery = "/debug/pprof/heap", "gc=1"
	case u.Path == "" || u.Path == "/":
		u.Path, u.RawQuery = "/debug/pprof/goroutine", "debug="+strconv.Itoa(f.debug)
	}
	return u, nil
}

// fetch GETs a dump or a profile with the token, within a minute.
func (f leaksFlags) fetch(ctx context.Context, raw string) ([]byte, error) {
	u, err := f.opsURL(raw)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return heap.Fetch(ctx, http.DefaultClient, u.String(), f.token)
}

// fetchFrom GETs path from the ops server raw belongs to, with the token,
// within 10 s.
func (f leaksFlags) fetchFrom(ctx context.Context, raw, path string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	u.Path, u.RawQuery = path, ""
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return heap.Fetch(ctx, http.DefaultClient, u.String(), f.token)
}

// serverRoutes asks the ops server a profile came from which route each
// handler function serves (/debug/routes), so that heap sites name their
// route without --route; nil when it does not say (no token, an ops
// server without a bot).
func (f leaksFlags) serverRoutes(ctx context.Context, raw string) []heap.Option {
	data, err := f.fetchFrom(ctx, raw, "/debug/routes")
	if err != nil {
		return nil
	}
	opt, err := heap.ServerRoutes(data)
	if err != nil {
		return nil // not a tidygram ops server's answer: the names are optional
	}
	return []heap.Option{opt}
}

// runtimeFigures reads the runtime's heap figures from the /metrics of the
// ops server a profile came from; without them the profile's own are used.
func (f leaksFlags) runtimeFigures(ctx context.Context, raw string, p *heap.Profile) heap.Runtime {
	data, err := f.fetchFrom(ctx, raw, "/metrics")
	if err != nil {
		return heap.Runtime{}
	}
	rt, err := heap.ReadMetrics(bytes.NewReader(data), p)
	if err != nil {
		return heap.Runtime{}
	}
	return rt
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// diffReport is the JSON form of --diff.
type diffReport struct {
	Before   int            `json:"before"`
	After    int            `json:"after"`
	Owners   []leak.Delta   `json:"owners"`
	Groups   []leak.Delta   `json:"groups"`
	Findings []leak.Finding `json:"findings"` // the catalogue applied to what grew
}

func printDiff(w io.Writer, a, b *leak.Dump, f leaksFlags, opts []leak.DiagnoseOption) error {
	r := diffReport{Before: a.Total(), After: b.Total(), Owners: leak.DiffOwners(a.Groups, b.Groups), Groups: leak.Diff(a.Groups, b.Groups)}
	var grown []leak.Group
	for _, d := range r.Groups {
		if d.Growth() > 0 {
			g := d.Group
			g.Count = d.Growth()
			grown = append(grown, g)
		}
	}
	r.Findings = leak.Diagnose(grown, opts...)
	if len(r.Groups) > f.top {
		r.Groups = r.Groups[:f.top]
	}
	if f.json {
		return writeJSON(w, r)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d -> %d goroutines (%+d)\n\nBy owner:\n", r.Before, r.After, r.After-r.Before)
	if len(r.Owners) == 0 {
		sb.WriteString("  no change\n")
	}
	for _, d := range r.Owners {
		fmt.Fprintf(&sb, "  %+6d  %s (%d -> %d)\n", d.Growth(), d.Key, d.Before, d.After)
	}
	sb.WriteString("\nBy stack:\n")
	for _, d := range r.Groups {
		fmt.Fprintf(&sb, "  %+6d  %s at %s\n", d.Growth(), d.Group.Owner(), d.Group.Origin())
	}
	for i, fd := range r.Findings {
		fmt.Fprintf(&sb, "\n%d. %s [%s] — %d goroutine(s) more\n   why: %s\n   fix: %s\n", i+1, fd.Title, fd.ID, fd.Count, fd.Why, fd.Fix)
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// watchReport is the JSON form of --watch.
type watchReport struct {
	Samples   []leak.Sample  `json:"samples"`
	Rate      float64        `json:"rate_per_min"`
	Limit     float64        `json:"limit_per_min"`
	Sustained bool           `json:"sustained"`
	Owners    []leak.Delta   `json:"owners"` // first dump to last, by owner
	Findings  []leak.Finding `json:"findings"`
}

// watch samples the URL every f.every for f.dur and fails on growth
// sustained at more than limit per minute.
func watch(ctx context.Context, f leaksFlags, limit float64, w io.Writer, opts []leak.DiagnoseOption) error {
	var r watchReport
	r.Limit = limit
	var first, last *leak.Dump
	err := sampleFor(ctx, f, func(in input, now time.Time, since time.Duration) error {
		d := in.dump
		if d == nil {
			return fmt.Errorf("%s: a heap profile: give --heap to watch the heap", f.watch)
		}
		if first == nil {
			first = d
		}
		last = d
		r.Samples = append(r.Samples, leak.Sample{Time: now, Goroutines: float64(d.Total()), HeapLive: -1, FDs: -1})
		if !f.json {
			fmt.Fprintf(w, "%8s  %d goroutines\n", since.Round(time.Millisecond), d.Total())
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Rate, r.Sustained = leak.GrowthRate(r.Samples, func(s leak.Sample) float64 { return s.Goroutines }, limit)
	r.Owners = leak.DiffOwners(first.Groups, last.Groups)
	var grown []leak.Group
	for _, d := range leak.Diff(first.Groups, last.Groups) {
		if d.Growth() > 0 {
			g := d.Group
			g.Count = d.Growth()
			grown = append(grown, g)
		}
	}
	r.Findings = leak.Diagnose(grown, opts...)
	if f.json {
		if err := writeJSON(w, r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "\n%d samples: %.1f goroutines/min (limit %.1f/min), sustained: %v\n", len(r.Samples), r.Rate, limit, r.Sustained)
		for _, d := range r.Owners[:min(len(r.Owners), f.top)] {
			fmt.Fprintf(w, "  %+6d  %s (%d -> %d)\n", d.Growth(), d.Key, d.Before, d.After)
		}
		for i, fd := range r.Findings {
			fmt.Fprintf(w, "\n%d. %s [%s]\n   why: %s\n   fix: %s\n", i+1, fd.Title, fd.ID, fd.Why, fd.Fix)
		}
	}
	if r.Sustained {
		return fmt.Errorf("%w: %.1f/min over %s, limit %.1f/min", errGrowth, r.Rate, f.dur, limit)
	}
	return nil
}

// sampleFor loads f.watch f.dur/f.every+1 times, every f.every (right
// after the previous one when a load takes longer), and hands each sample
// to take with its time and the time since the first. The count is fixed,
// so a slow server stretches the watch rather than thinning it.
func sampleFor(ctx context.Context, f leaksFlags, take func(in input, now time.Time, since time.Duration) error) error {
	start := time.Now()
	t := time.NewTicker(f.every)
	defer t.Stop()
	for i, n := 0, int(f.dur/f.every)+1; ; i++ {
		in, err := f.load(ctx, f.watch, nil)
		if err != nil {
			return err
		}
		now := time.Now()
		if err := take(in, now, now.Sub(start)); err != nil {
			return err
		}
		if i+1 == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// parseRate parses "5/min", "0.5/s", "300/h" or "5" (per minute) into a
// rate per minute.
func parseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive number per s, min or h, e.g. 5/min; got %q", s)
	}
	switch unit {
	case "", "min", "m":
		return n, nil
	case "s", "sec":
		return n * 60, nil
	case "h", "hour":
		return n / 60, nil
	}
	return 0, fmt.Errorf("unknown unit %q (want s, min or h)", unit)
}
