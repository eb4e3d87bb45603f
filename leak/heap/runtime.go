package heap

import (
	"fmt"
	"io"
	"runtime"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Runtime are the runtime's own heap figures at a profile, for a reader
// to cross-check the profile's sampled ones. Unknown figures are -1.
type Runtime struct {
	// Source says where the figures come from: "metrics" (an ops
	// server's /metrics, from runtime.MemStats), "memstats" (this
	// process's runtime.MemStats, MemStats) or "profile" (the profile
	// alone: only ProfileInuse is known).
	Source    string `json:"source"`
	HeapAlloc int64  `json:"heap_alloc_bytes"` // live and not yet collected objects
	HeapInuse int64  `json:"heap_inuse_bytes"` // bytes in in-use spans
	NextGC    int64  `json:"next_gc_bytes"`    // heap goal of the next GC
	NumGC     int64  `json:"gc_count"`         // completed GC cycles
	// ProfileInuse is the sum of the profile's inuse_space: a sampled
	// estimate of the live heap as of the last completed GC.
	ProfileInuse int64 `json:"profile_inuse_bytes"`
}

func profileRuntime(p *Profile) Runtime {
	rt := Runtime{Source: "profile", HeapAlloc: -1, HeapInuse: -1, NextGC: -1, NumGC: -1}
	rt.ProfileInuse, _ = InUse(p)
	return rt
}

// Prometheus series ReadMetrics reads (client_golang's Go collector).
const (
	MetricHeapAlloc = "go_memstats_heap_alloc_bytes"
	MetricHeapInuse = "go_memstats_heap_inuse_bytes"
	MetricNextGC    = "go_memstats_next_gc_bytes"
	MetricGCCount   = "go_gc_duration_seconds" // a summary: its count is the GC count
)

// ReadMetrics reads the runtime's heap figures from a Prometheus text
// exposition (an ops server's /metrics, read when p was taken) and returns
// them with p's in-use bytes; it returns an error only for an exposition
// that does not parse. Series absent from it are -1.
func ReadMetrics(r io.Reader, p *Profile) (Runtime, error) {
	rt := profileRuntime(p)
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(io.LimitReader(r, 16<<20))
	if err != nil {
		return rt, fmt.Errorf("heap: reading metrics: %w", err)
	}
	rt.Source = "metrics"
	gauge := func(name string) int64 {
		if f := fams[name]; f != nil && len(f.Metric) > 0 {
			return metricValue(f.Metric[0])
		}
		return -1
	}
	rt.HeapAlloc, rt.HeapInuse, rt.NextGC = gauge(MetricHeapAlloc), gauge(MetricHeapInuse), gauge(MetricNextGC)
	rt.NumGC = gauge(MetricGCCount)
	return rt, nil
}

func metricValue(m *dto.Metric) int64 {
	switch {
	case m.Gauge != nil:
		return int64(m.Gauge.GetValue())
	case m.Counter != nil:
		return int64(m.Counter.GetValue())
	case m.Summary != nil:
		return int64(m.Summary.GetSampleCount())
	case m.Untyped != nil:
		return int64(m.Untyped.GetValue())
	}
	return -1
}

// String is one line for people.
func (rt Runtime) String() string {
	if rt.HeapAlloc < 0 && rt.HeapInuse < 0 && rt.NextGC < 0 && rt.NumGC < 0 {
		return fmt.Sprintf("profile in-use %s (no runtime figures: give the ops URL for HeapAlloc, NextGC and the GC count)", fmtBytes(rt.ProfileInuse))
	}
	f := func(n int64) string {
		if n < 0 {
			return "?"
		}
		return fmtBytes(n)
	}
	gc := "?"
	if rt.NumGC >= 0 {
		gc = fmt.Sprint(rt.NumGC)
	}
	return fmt.Sprintf("HeapAlloc %s, HeapInuse %s, NextGC %s, GCs %s; profile in-use %s", f(rt.HeapAlloc), f(rt.HeapInuse), f(rt.NextGC), gc, fmtBytes(rt.ProfileInuse))
}

// MemStats returns this process's runtime figures (runtime.ReadMemStats,
// which stops the world briefly), to go with a profile of it.
func MemStats() Runtime {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Runtime{Source: "memstats", HeapAlloc: int64(ms.HeapAlloc), HeapInuse: int64(ms.HeapInuse),
		NextGC: int64(ms.NextGC), NumGC: int64(ms.NumGC)}
}

// InUse returns p's in-use bytes and objects: the sums of its inuse_space
// and inuse_objects (sampled estimates as of the last completed GC).
func InUse(p *Profile) (bytes, objects int64) {
	for _, s := range p.p.Sample {
		v := p.values(s)
		bytes += v[InuseSpace]
		objects += v[InuseObjects]
	}
	return bytes, objects
}
