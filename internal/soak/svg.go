package soak

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// Chart geometry, in SVG user units.
const (
	chartWidth  = 860
	panelHeight = 170
	marginLeft  = 80
	marginRight = 20
	panelGap    = 40
	marginTop   = 60
)

// WriteSVG draws goroutines, heap, RSS and open fds over time, one panel
// each, with the warm-up half shaded and the fitted trend of the second
// half dashed (red when it failed), and the samples taken after the load
// stopped (while the last replies came) after a dotted line. Series that were not measured are
// left out. The SVG is self-contained and written by hand: no dependency.
func WriteSVG(w io.Writer, title string, samples []Sample, trends []Trend, warmUp, total time.Duration) error {
	type panel struct {
		res   resource
		trend Trend
	}
	var panels []panel
	byName := map[string]Trend{}
	for _, t := range trends {
		byName[t.Resource] = t
	}
	for _, r := range resources(Thresholds{}) {
		if r.name == "threads" {
			continue
		}
		known := false
		for _, s := range samples {
			known = known || !math.IsNaN(r.get(s))
		}
		if known {
			panels = append(panels, panel{r, byName[r.name]})
		}
	}
	height := marginTop + len(panels)*(panelHeight+panelGap) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", marginLeft, html.EscapeString(title))
	if total <= 0 {
		total = time.Second
	}
	span := total // the chart also shows the samples taken while the last replies came
	for _, s := range samples {
		span = max(span, s.At)
	}
	plotW := float64(chartWidth - marginLeft - marginRight)
	xOf := func(d time.Duration) float64 { return marginLeft + plotW*float64(d)/float64(span) }
	for i, p := range panels {
		top := float64(marginTop + i*(panelHeight+panelGap))
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, s := range samples {
			if v := p.res.get(s) / p.res.scale; !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if p.trend.Known {
			lo, hi = math.Min(lo, math.Min(p.trend.First, p.trend.Last)), math.Max(hi, math.Max(p.trend.First, p.trend.Last))
		}
		if hi-lo < 1e-9 {
			hi, lo = hi+1, math.Max(0, lo-1)
		}
		pad := (hi - lo) * 0.08
		lo, hi = lo-pad, hi+pad
		if lo < 0 {
			lo = 0
		}
		yOf := func(v float64) float64 { return top + panelHeight - panelHeight*(v-lo)/(hi-lo) }
		label := p.res.name
		if p.res.unit != "" {
			label += " (" + p.res.unit + ")"
		}
		color, verdict := "#1f77b4", "ok"
		if p.trend.Failed {
			color, verdict = "#d62728", "FAIL"
		}
		fmt.Fprintf(&b, `<g>`+"\n")
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="none" stroke="#999"/>`+"\n", marginLeft, top, plotW, panelHeight)
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="#f2f2f2"/>`+"\n", marginLeft, top, xOf(warmUp)-marginLeft, panelHeight)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-weight="bold">%s</text>`+"\n", marginLeft, top-6, html.EscapeString(label))
		if p.trend.Known {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">trend %+.3g/min (limit %.3g/min): %s</text>`+"\n",
				chartWidth-marginRight, top-6, color, p.trend.Slope, p.trend.Limit, verdict)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginLeft-6, top+10, fmtNum(hi))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginLeft-6, top+panelHeight, fmtNum(lo))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#777">warm-up</text>`+"\n", float64(marginLeft)+4, top+panelHeight-4)
		for _, d := range []time.Duration{0, warmUp, total} {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", xOf(d), top+panelHeight+13, d.Round(100*time.Millisecond))
		}
		if span > total {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="2,3"/>`+"\n", xOf(total), top, xOf(total), top+panelHeight)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" fill="#777" text-anchor="end">load stops</text>`+"\n", xOf(total)-3, top+12)
		}
		var pts strings.Builder
		for _, s := range samples {
			v := p.res.get(s) / p.res.scale
			if math.IsNaN(v) {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", xOf(s.At), yOf(v))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", color, strings.TrimSpace(pts.String()))
		if p.trend.Known {
			var first, last time.Duration = total, 0
			for _, s := range samples {
				if s.At >= warmUp && s.At <= total && !math.IsNaN(p.res.get(s)) {
					first, last = min(first, s.At), max(last, s.At)
				}
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333" stroke-width="1.5" stroke-dasharray="6,4"/>`+"\n",
				xOf(first), yOf(p.trend.First), xOf(last), yOf(p.trend.Last))
		}
		fmt.Fprintf(&b, `</g>`+"\n")
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtNum prints a value with at most 4 significant digits.
func fmtNum(v float64) string { return fmt.Sprintf("%.4g", v) }
