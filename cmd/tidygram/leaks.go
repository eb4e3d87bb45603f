package main

import (
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
)

const leaksUsage = `Usage:
  tidygram leaks [flags] [FILE | - | URL]     explain a goroutine dump (default: stdin)
  tidygram leaks [flags] --diff A B           show what grew from dump A to dump B
  tidygram leaks [flags] --watch URL          sample URL and exit 1 on sustained growth

Reads goroutine dumps of any text form: /debug/pprof/goroutine?debug=1 (with
labels), ?debug=2 (labels with GODEBUG=tracebacklabels=1; states, wait
minutes, creators), and the goroutineleak profile. Groups goroutines by owner
and stack, ranks the groups and explains them from a catalogue of known leak
patterns, with the fix. A URL without a path reads
/debug/pprof/goroutine?debug=2 (debug=1 with --watch) of tidygram's ops server.

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
	fs.IntVar(&f.top, "top", 10, "how many groups to list")
	fs.IntVar(&f.pool, "pool", leak.DefaultPoolSize, "connection pool size the HTTP patterns compare with")
	fs.BoolVar(&f.diff, "diff", false, "compare two dumps A and B")
	fs.StringVar(&f.watch, "watch", "", "URL to sample")
	fs.DurationVar(&f.every, "every", 10*time.Second, "--watch: sampling interval")
	fs.DurationVar(&f.dur, "for", 5*time.Minute, "--watch: how long to watch")
	fs.StringVar(&f.maxGrowth, "max-growth", "5/min", "--watch: growth that fails (N/s, N/min or N/h)")
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
	opts := []leak.DiagnoseOption{leak.WithPoolSize(f.pool)}
	switch {
	case f.watch != "":
		if len(pos) > 0 {
			return fmt.Errorf("%w: --watch takes no other argument", errUsage)
		}
		limit, err := parseRate(f.maxGrowth)
		if err != nil {
			return fmt.Errorf("%w: --max-growth: %v", errUsage, err)
		}
		if f.every <= 0 || f.dur < 9*f.every {
			return fmt.Errorf("%w: --for must cover at least 9 intervals of --every", errUsage)
		}
		return watch(ctx, f, limit, stdout, opts)
	case f.diff:
		if len(pos) != 2 {
			return fmt.Errorf("%w: --diff takes two dumps", errUsage)
		}
		a, err := load(ctx, pos[0], stdin, f.token, 2)
		if err != nil {
			return err
		}
		b, err := load(ctx, pos[1], stdin, f.token, 2)
		if err != nil {
			return err
		}
		return printDiff(stdout, a, b, f, opts)
	}
	if len(pos) > 1 {
		return fmt.Errorf("%w: one dump at a time (or --diff A B)", errUsage)
	}
	src := "-"
	if len(pos) == 1 {
		src = pos[0]
	}
	d, err := load(ctx, src, stdin, f.token, 2)
	if err != nil {
		return err
	}
	a := leak.Analyze(d, opts...)
	if f.json {
		return writeJSON(stdout, a)
	}
	return a.WriteText(stdout, f.top)
}

// load reads a dump from a file, stdin ("-") or a URL.
func load(ctx context.Context, src string, stdin io.Reader, token string, debug int) (*leak.Dump, error) {
	var r io.Reader
	switch {
	case src == "-":
		r = stdin
	case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
		body, err := fetch(ctx, src, token, debug)
		if err != nil {
			return nil, err
		}
		defer body.Close()
		r = body
	default:
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	d, err := leak.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return d, nil
}

// fetch GETs a dump, adding the ops server's goroutine path to a bare URL.
func fetch(ctx context.Context, raw, token string, debug int) (io.ReadCloser, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path, u.RawQuery = "/debug/pprof/goroutine", "debug="+strconv.Itoa(debug)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		cancel()
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized {
			hint = " (give --token)"
		}
		return nil, fmt.Errorf("GET %s: %s%s: %s", u.Redacted(), resp.Status, hint, strings.TrimSpace(string(msg)))
	}
	return cancelBody{resp.Body, cancel}, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelBody) Close() error { err := b.ReadCloser.Close(); b.cancel(); return err }

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
	start := time.Now()
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		d, err := load(ctx, f.watch, nil, f.token, 1)
		if err != nil {
			return err
		}
		now := time.Now()
		if first == nil {
			first = d
		}
		last = d
		r.Samples = append(r.Samples, leak.Sample{Time: now, Goroutines: float64(d.Total()), HeapLive: -1, FDs: -1})
		if !f.json {
			fmt.Fprintf(w, "%8s  %d goroutines\n", now.Sub(start).Round(time.Millisecond), d.Total())
		}
		if now.Sub(start) >= f.dur {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
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
