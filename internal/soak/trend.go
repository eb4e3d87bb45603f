package soak

import (
	"fmt"
	"math"
	"time"
)

// Sample is one measurement of the bot. Values that could not be read
// are NaN (goroutines and heap without an ops endpoint, for instance).
type Sample struct {
	At         time.Duration // since the load started
	Goroutines float64
	HeapBytes  float64 // live heap
	RSSBytes   float64
	Threads    float64
	FDs        float64
}

// Default trend thresholds: growth per minute over the second half of the
// run above which the soak fails. They follow leak.Watchdog's defaults
// where it has one.
const (
	DefaultGoroutineRate = 5.0 // goroutines per minute
	DefaultHeapRate      = 4.0 // MiB of live heap per minute
	DefaultRSSRate       = 8.0 // MiB of RSS per minute
	DefaultFDRate        = 2.0 // open file descriptors per minute
	DefaultThreadRate    = 1.0 // OS threads per minute
)

// Noise floors: a trend fails only when the growth it predicts over the
// fitted window is also above these, and above three standard deviations
// of the samples around the fitted line, so that a short run's jitter (a
// GC cycle, a burst of connections) is not taken for a leak.
const (
	FloorGoroutines = 10
	FloorHeapBytes  = 2 << 20
	FloorRSSBytes   = 8 << 20
	FloorFDs        = 5
	FloorThreads    = 3
)

// Thresholds are the growth rates per minute above which a trend fails.
// Zero fields take the defaults.
type Thresholds struct {
	Goroutines float64 // per minute (DefaultGoroutineRate)
	HeapMiB    float64 // MiB per minute (DefaultHeapRate)
	RSSMiB     float64 // MiB per minute (DefaultRSSRate)
	FDs        float64 // per minute (DefaultFDRate)
	Threads    float64 // per minute (DefaultThreadRate)
}

func (t Thresholds) withDefaults() Thresholds {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&t.Goroutines, DefaultGoroutineRate)
	def(&t.HeapMiB, DefaultHeapRate)
	def(&t.RSSMiB, DefaultRSSRate)
	def(&t.FDs, DefaultFDRate)
	def(&t.Threads, DefaultThreadRate)
	return t
}

// resource describes one series: how to read it from a Sample and what
// it may do.
type resource struct {
	name  string
	unit  string  // for reports: "", "MiB"
	scale float64 // raw value ÷ scale = value in unit
	get   func(Sample) float64
	rate  float64 // threshold per minute, in raw units
	floor float64 // raw units
}

func resources(t Thresholds) []resource {
	t = t.withDefaults()
	return []resource{
		{"goroutines", "", 1, func(s Sample) float64 { return s.Goroutines }, t.Goroutines, FloorGoroutines},
		{"heap", "MiB", 1 << 20, func(s Sample) float64 { return s.HeapBytes }, t.HeapMiB * (1 << 20), FloorHeapBytes},
		{"rss", "MiB", 1 << 20, func(s Sample) float64 { return s.RSSBytes }, t.RSSMiB * (1 << 20), FloorRSSBytes},
		{"fds", "", 1, func(s Sample) float64 { return s.FDs }, t.FDs, FloorFDs},
		{"threads", "", 1, func(s Sample) float64 { return s.Threads }, t.Threads, FloorThreads},
	}
}

// Trend is the fitted growth of one resource over the second half of the
// run.
type Trend struct {
	Resource string
	Unit     string  // unit of the values below ("" or "MiB")
	Known    bool    // the resource could be measured (at least 5 samples)
	Samples  int     // samples fitted
	Slope    float64 // per minute
	Limit    float64 // threshold per minute
	Growth   float64 // predicted by the slope over the fitted span
	Noise    float64 // three standard deviations of the residuals
	Floor    float64 // least growth that counts
	First    float64 // fitted value at the start of the window
	Last     float64 // fitted value at its end
	Failed   bool    // slope above the limit and growth above floor and noise
}

// Fit returns the least-squares line through (xs, ys) and the standard
// deviation of the residuals. With fewer than two distinct xs the slope is 0.
func Fit(xs, ys []float64) (slope, intercept, sd float64) {
	n := float64(len(xs))
	if len(xs) == 0 {
		return 0, 0, 0
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range xs {
		dx := xs[i] - mx
		sxx += dx * dx
		sxy += dx * (ys[i] - my)
	}
	if sxx > 0 {
		slope = sxy / sxx
	}
	intercept = my - slope*mx
	var ss float64
	for i := range xs {
		r := ys[i] - (intercept + slope*xs[i])
		ss += r * r
	}
	return slope, intercept, math.Sqrt(ss / n)
}

// Trends fits every resource over the samples taken from from to to (the
// second half of the run: the first half is warm-up, and samples taken
// after the load stopped are left out).
func Trends(samples []Sample, from, to time.Duration, th Thresholds) []Trend {
	var out []Trend
	for _, r := range resources(th) {
		var xs, ys []float64
		for _, s := range samples {
			if s.At < from || s.At > to {
				continue
			}
			v := r.get(s)
			if math.IsNaN(v) {
				continue
			}
			xs = append(xs, s.At.Minutes())
			ys = append(ys, v)
		}
		t := Trend{Resource: r.name, Unit: r.unit, Samples: len(xs), Limit: r.rate / r.scale, Floor: r.floor / r.scale}
		if len(xs) >= 5 {
			slope, icpt, sd := Fit(xs, ys)
			span := xs[len(xs)-1] - xs[0]
			t.Known = true
			t.Slope = slope / r.scale
			t.Growth = slope * span / r.scale
			t.Noise = 3 * sd / r.scale
			t.First = (icpt + slope*xs[0]) / r.scale
			t.Last = (icpt + slope*xs[len(xs)-1]) / r.scale
			t.Failed = t.Slope > t.Limit && t.Growth > t.Floor && t.Growth > t.Noise
		}
		out = append(out, t)
	}
	return out
}

// Verdict says in a few words whether the trend passed and why: a slope
// over the limit passes when the growth it predicts over the fitted
// window stays under the floor or within the samples' noise.
func (t Trend) Verdict() string {
	u := unitSuffix(t.Unit)
	switch {
	case !t.Known:
		return "not measured"
	case t.Failed:
		return fmt.Sprintf("FAIL: %+.3g%s over the window, above the %.3g%s floor and the %.3g%s noise (3σ)", t.Growth, u, t.Floor, u, t.Noise, u)
	case t.Slope <= t.Limit:
		return "ok"
	case t.Growth <= t.Floor:
		return fmt.Sprintf("ok: %+.3g%s over the window is under the %.3g%s floor", t.Growth, u, t.Floor, u)
	}
	return fmt.Sprintf("ok: %+.3g%s over the window is within the samples' noise (3σ %.3g%s)", t.Growth, u, t.Noise, u)
}
