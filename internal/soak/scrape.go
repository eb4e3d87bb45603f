package soak

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Prometheus series the soak reads from a bot's ops endpoint.
const (
	MetricGoroutines = "go_goroutines"
	MetricHeapLive   = "go_gc_heap_live_bytes"        // live heap after the last GC (runtime/metrics)
	MetricHeapAlloc  = "go_memstats_heap_alloc_bytes" // fallback when the live heap is not exported
)

// maxScrape bounds a /metrics answer the soak reads.
const maxScrape = 8 << 20

// ParseMetrics reads Prometheus text exposition from r and returns the
// values of the unlabelled series named in want (others are skipped).
// Lines that are not samples, and values that do not parse, are ignored.
func ParseMetrics(r io.Reader, want ...string) (map[string]float64, error) {
	out := make(map[string]float64, len(want))
	sc := bufio.NewScanner(io.LimitReader(r, maxScrape))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsRune(name, '{') {
			continue
		}
		for _, w := range want {
			if name != w {
				continue
			}
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				out[name] = v
			}
		}
	}
	return out, sc.Err()
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
