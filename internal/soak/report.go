package soak

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tidygram/tidygram/internal/demo"
)

// WriteMarkdown writes the report of r: the verdict, the replies, the
// trends with their thresholds, the emulator's counters and the chart.
func WriteMarkdown(w io.Writer, r *Result) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# tidygram soak report")
	p("")
	verdict := "**PASS**"
	if r.Interrupted {
		verdict = "**INTERRUPTED** (no verdict)"
	} else if !r.OK() {
		verdict = "**FAIL**: " + strings.Join(r.Problems, "; ")
	}
	p("- verdict: %s", verdict)
	p("- bot: `%s`", r.Bot)
	p("- load: %d users, scenario %s, for %v", r.Load.Users, r.Load.Scenario, r.Duration)
	if r.Faults != "" {
		p("- faults (whole run): `%s`", r.Faults)
	} else {
		p("- faults: none")
	}
	p("- sampled every %v (%d samples); trends fitted over the second half (%v–%v), the first half is warm-up", r.Interval, len(r.Samples), r.Duration/2, r.Duration)
	p("- bot end: %s", r.Exit)
	if r.LogPath != "" {
		p("- bot output: `%s`", filepath.Base(r.LogPath))
	}
	p("")
	p("## Replies")
	p("")
	p("| updates sent | replies checked | correct | wrong | missing | users who gave up |")
	p("|---:|---:|---:|---:|---:|---:|")
	p("| %d | %d | %d | %d | %d | %d |", r.Load.Updates, r.Load.Checked, r.Load.Correct, r.Load.Wrong, r.Load.Missing, r.Load.GaveUp)
	p("")
	p("Reply latency seen by the users: p50 %s, p99 %s.", demo.FormatDuration(r.Load.Latency.Quantile(0.5)), demo.FormatDuration(r.Load.Latency.Quantile(0.99)))
	if bs := r.BotStats; bs != nil {
		p("Bot: %d updates handled, %d handled twice, %d handler errors, %d failed polls, %d goroutines outlived their update.",
			bs.Handled, bs.HandledTwice, bs.Errors, bs.PollErrors, bs.Leaked)
	}
	for _, n := range r.Load.Notes {
		p("- %s", n)
	}
	p("")
	p("## Trends (second half)")
	p("")
	p("A trend fails when its slope is above the limit and the growth it predicts over the window is above both the floor and three standard deviations of the samples around the line.")
	p("")
	p("| resource | start | end | slope/min | limit/min | growth | floor | noise (3σ) | verdict |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, t := range r.Trends {
		name := t.Resource
		if t.Unit != "" {
			name += " (" + t.Unit + ")"
		}
		if !t.Known {
			p("| %s | – | – | – | %.3g | – | %.3g | – | not measured |", name, t.Limit, t.Floor)
			continue
		}
		v := "ok"
		if t.Failed {
			v = "**FAIL**"
		}
		p("| %s | %.4g | %.4g | %+.3g | %.3g | %+.3g | %.3g | %.3g | %s |", name, t.First, t.Last, t.Slope, t.Limit, t.Growth, t.Floor, t.Noise, v)
	}
	p("")
	p("Limits: --max-goroutines %.3g, --max-heap %.3g MiB, --max-rss %.3g MiB, --max-fds %.3g, --max-threads %.3g (per minute).",
		r.Thresholds.Goroutines, r.Thresholds.HeapMiB, r.Thresholds.RSSMiB, r.Thresholds.FDs, r.Thresholds.Threads)
	p("")
	if r.ChartPath != "" {
		p("![goroutines, heap, RSS and open files over time](%s)", filepath.Base(r.ChartPath))
		p("")
	}
	p("## Heap by allocation site")
	p("")
	if r.Heap == nil {
		p("Not compared: %s.", r.HeapNote)
	} else {
		p("Heap profiles at the start of the fitted window and at the end of the load, compared by allocation site (`tidygram leaks --diff` does the same with two profiles): a site leaks when its in-use bytes grew across GCs, churns when it allocated much and kept nothing.")
		p("")
		p("```text")
		var hb strings.Builder
		_ = r.Heap.WriteText(&hb)
		b.WriteString(hb.String())
		p("```")
	}
	p("")
	p("## Emulator")
	p("")
	c := r.Emulator
	p("| enqueued | delivered | redelivered | confirmed | unconfirmed after stop | 429 answers | most open connections | faults injected |")
	p("|---:|---:|---:|---:|---:|---:|---:|---|")
	p("| %d | %d | %d | %d | %d | %d | %d | %s |", c.UpdatesEnqueued, c.UpdatesDelivered, c.UpdatesRedelivered, c.UpdatesConfirmed,
		r.Pending, c.Requests429(), c.MaxOpenConns, demo.FormatFaultCounts(c.Faults))
	p("")
	p("Report written %s.", time.Now().UTC().Format(time.RFC3339))
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary is a few lines for the terminal.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak of %s for %v: %d updates, replies %d/%d correct, %d missing\n", r.Bot, r.Duration, r.Load.Updates, r.Load.Correct, r.Load.Checked, r.Load.Missing)
	trends := append([]Trend(nil), r.Trends...)
	sort.SliceStable(trends, func(i, j int) bool { return trends[i].Failed && !trends[j].Failed })
	for _, t := range trends {
		if !t.Known {
			fmt.Fprintf(&b, "  %-10s not measured\n", t.Resource)
			continue
		}
		fmt.Fprintf(&b, "  %-10s %+.3g%s/min (limit %.3g)  %s\n", t.Resource, t.Slope, unitSuffix(t.Unit), t.Limit, t.Verdict())
	}
	switch {
	case r.Interrupted:
		b.WriteString("interrupted: no verdict\n")
	case r.OK():
		b.WriteString("PASS\n")
	default:
		fmt.Fprintf(&b, "FAIL: %s\n", strings.Join(r.Problems, "; "))
	}
	fmt.Fprintf(&b, "report: %s\nchart:  %s\n", r.ReportPath, r.ChartPath)
	return b.String()
}
