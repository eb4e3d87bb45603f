package soak

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Prometheus series the soak reads from a bot's ops endpoint.
const (
	MetricGoroutines = "go_goroutines"
	MetricHeapLive   = "go_gc_heap_live_bytes"        // live heap after the last GC (runtime/metrics)
	MetricHeapAlloc  = "go_memstats_heap_alloc_bytes" // fallback when the live heap is not exported
)

// maxScrape bounds a /metrics answer the soak reads.
const maxScrape = 8 << 20

// ParseMetrics reads a Prometheus text exposition from r (with
// github.com/prometheus/common/expfmt) and returns the values of the
// unlabelled series named in want (gauges, counters or untyped; others
// are skipped). An exposition that does not parse is an error.
func ParseMetrics(r io.Reader, want ...string) (map[string]float64, error) {
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(io.LimitReader(r, maxScrape))
	if err != nil {
		return nil, fmt.Errorf("soak: metrics: %w", err)
	}
	out := make(map[string]float64, len(want))
	for _, name := range want {
		f := fams[name]
		if f == nil {
			continue
		}
		for _, m := range f.Metric {
			if len(m.Label) > 0 {
				continue
			}
			switch {
			case m.Gauge != nil:
				out[name] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[name] = m.Counter.GetValue()
			case m.Untyped != nil:
				out[name] = m.Untyped.GetValue()
			}
		}
	}
	return out, nil
}

// scrape reads goroutines and heap from url (an ops server's /metrics).
func scrape(ctx context.Context, client *http.Client, url string) (goroutines, heap float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return 0, 0, fmt.Errorf("soak: %s: %s", url, resp.Status)
	}
	m, err := ParseMetrics(resp.Body, MetricGoroutines, MetricHeapLive, MetricHeapAlloc)
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, 0, fmt.Errorf("soak: %s: %w", url, err)
	}
	g, ok := m[MetricGoroutines]
	if !ok {
		return 0, 0, fmt.Errorf("soak: %s has no %s", url, MetricGoroutines)
	}
	h, ok := m[MetricHeapLive]
	if !ok || h == 0 { // not exported, or no GC has run yet
		h = m[MetricHeapAlloc]
	}
	return g, h, nil
}
