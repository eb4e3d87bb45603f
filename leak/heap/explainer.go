package heap

import (
	"fmt"

	"github.com/tidygram/tidygram/leak"
)

// explainer is the leak.HeapExplainer of this package.
type explainer struct {
	opts []Option
	err  error // of the options, checked by Explainer
}

// Explainer returns a leak.HeapExplainer for leak.WithHeapExplainer: it
// parses the two profiles, compares them (Compare, with opts) and reports
// the sites with verdict leak or growing, with the catalogue's pattern and
// fix. A program wires it in its main:
//
//	bot, err := tidygram.New(token, tidygram.WithWatchdog(
//		leak.WithHeapExplainer(heap.Explainer())))
//
// (the bot names each site's route from its handler function), or, for a
// Watchdog of its own, leak.NewWatchdog with the same option and
// WithRoute for the routes.
//
// (tidygram's ops server does not wire it itself, so that bots that do not
// want it do not link the profile parser.)
//
// Options are checked here; a bad one makes every ExplainHeap return its
// error (the alarm then carries it in HeapError).
func Explainer(opts ...Option) leak.HeapExplainer {
	_, err := newConfig(opts)
	return explainer{opts, err}
}

// ExplainHeap implements leak.HeapExplainer.
func (e explainer) ExplainHeap(before, after []byte, max int) ([]leak.HeapSite, error) {
	if e.err != nil {
		return nil, e.err
	}
	a, err := Parse(before)
	if err != nil {
		return nil, fmt.Errorf("profile at the window's start: %w", err)
	}
	b, err := Parse(after)
	if err != nil {
		return nil, fmt.Errorf("profile at the alarm: %w", err)
	}
	d, err := Compare(a, b, e.opts...)
	if err != nil {
		return nil, err
	}
	return d.HeapSites(max), nil
}

// HeapSites returns the growing sites (verdict leak or growing), at most
// max, in package leak's form, each with the pattern that explains it.
func (d *Diff) HeapSites(max int) []leak.HeapSite {
	pattern := map[string]leak.Pattern{}
	for _, f := range d.Findings {
		for _, g := range f.Sites {
			pattern[g.Key()] = f.Pattern
		}
	}
	var out []leak.HeapSite
	for _, g := range d.Growing() {
		if len(out) == max {
			break
		}
		p := pattern[g.Key()]
		out = append(out, leak.HeapSite{Site: g.At(), Handler: g.Handler, Route: g.Route, Growth: g.InuseDelta,
			Verdict: string(g.Verdict), Pattern: p.ID, Fix: p.Fix})
	}
	return out
}
