package soak

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/ops"
)

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]float64
	}{
		{"ops output", "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_gc_heap_live_bytes 1.048576e+06\n", map[string]float64{MetricGoroutines: 42, MetricHeapLive: 1 << 20}},
		{"labelled series skipped", "go_goroutines{x=\"1\"} 7\ngo_goroutines 8\n", map[string]float64{MetricGoroutines: 8}},
		{"timestamp ignored", "go_goroutines 9 1700000000000\n", map[string]float64{MetricGoroutines: 9}},
		{"prefix is not a match", "go_goroutines_total 5\n", map[string]float64{}},
		{"empty", "", map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetrics(strings.NewReader(tt.in), MetricGoroutines, MetricHeapLive)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestParseMetricsRefusesGarbage(t *testing.T) {
	if _, err := ParseMetrics(strings.NewReader("go_goroutines many\n"), MetricGoroutines); err == nil || !strings.Contains(err.Error(), "soak: metrics") {
		t.Errorf("garbage: %v", err)
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add("go_goroutines 42\n")
	f.Add("# TYPE x gauge\ngo_gc_heap_live_bytes{a=\"b\"} NaN\ngo_gc_heap_live_bytes +Inf\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseMetrics(strings.NewReader(in), MetricGoroutines, MetricHeapLive)
		if err == nil && len(got) > 2 {
			t.Fatalf("more series than asked: %v", got)
		}
	})
}

func TestFit(t *testing.T) {
	slope, icpt, sd := Fit([]float64{0, 1, 2, 3}, []float64{1, 3, 5, 7})
	if slope != 2 || icpt != 1 || sd != 0 {
		t.Fatalf("Fit = %v, %v, %v; want 2, 1, 0", slope, icpt, sd)
	}
	if s, _, _ := Fit([]float64{1, 1}, []float64{3, 5}); s != 0 {
		t.Fatalf("slope with one distinct x = %v", s)
	}
}

// series builds samples over total: f gives goroutines at a time.
func series(total time.Duration, n int, f func(at time.Duration, i int) float64) []Sample {
	var s []Sample
	for i := 0; i <= n; i++ {
		at := total * time.Duration(i) / time.Duration(n)
		v := f(at, i)
		s = append(s, Sample{At: at, Goroutines: v, HeapBytes: math.NaN(), RSSBytes: math.NaN(), Threads: math.NaN(), FDs: math.NaN()})
	}
	return s
}

func TestTrends(t *testing.T) {
	total := 10 * time.Minute
	tests := []struct {
		name string
		f    func(at time.Duration, i int) float64
		fail bool
	}{
		{"flat", func(time.Duration, int) float64 { return 100 }, false},
		{"leak of 10 per minute", func(at time.Duration, _ int) float64 { return 100 + 10*at.Minutes() }, true},
		{"leak of 3 per minute, under the limit", func(at time.Duration, _ int) float64 { return 100 + 3*at.Minutes() }, false},
		{"noise around a level", func(_ time.Duration, i int) float64 { return 100 + float64((i*7919)%41) - 20 }, false},
		{"warm-up then flat", func(at time.Duration, _ int) float64 { return 100 + 50*min(at.Minutes(), 4) }, false},
		{"growth that starts late", func(at time.Duration, _ int) float64 { return 100 + 20*max(at.Minutes()-5, 0) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trends := Trends(series(total, 300, tt.f), total/2, total, Thresholds{})
			var g Trend
			for _, tr := range trends {
				if tr.Resource == "goroutines" {
					g = tr
				} else if tr.Known {
					t.Errorf("%s known without samples", tr.Resource)
				}
			}
			if !g.Known || g.Failed != tt.fail {
				t.Fatalf("goroutines trend %+v, want failed=%v", g, tt.fail)
			}
		})
	}
}

// ReadProc sums a process and its descendants, skipping other processes.
func TestReadProcTree(t *testing.T) {
	root := t.TempDir()
	proc := func(pid, ppid, rssKB, threads, fds int) {
		dir := filepath.Join(root, itoa(pid))
		must(t, os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		stat := fmt.Sprintf("%d (my bot) (x)) S %d %d %d 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 %d 0 1000 10000000 %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			pid, ppid, pid, pid, threads, rssKB/4)
		must(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "status"), []byte("Name:\tp\nVmRSS:\t  "+itoa(rssKB)+" kB\nThreads:\t"+itoa(threads)+"\n"), 0o644))
		for i := range fds {
			must(t, os.WriteFile(filepath.Join(dir, "fd", itoa(i)), nil, 0o644))
		}
	}
	proc(10, 1, 1000, 2, 3)  // sh -c
	proc(11, 10, 5000, 8, 7) // the bot
	proc(12, 11, 100, 1, 1)  // its child
	proc(20, 1, 9999, 9, 9)  // unrelated
	st, err := ReadProc(root, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := ProcStats{Processes: 3, RSS: 6100 * 1024, Threads: 11, FDs: 11}
	if st != want {
		t.Fatalf("ReadProc = %+v, want %+v", st, want)
	}
	if _, err := ReadProc(root, 99); err == nil {
		t.Fatal("no error for a missing process")
	}
}

func TestReadProcSelf(t *testing.T) {
	st, err := ReadProc("/proc", os.Getpid())
	if err != nil {
		t.Skipf("no procfs: %v", err)
	}
	if st.Processes < 1 || st.RSS == 0 || st.Threads < 1 || st.FDs < 3 {
		t.Fatalf("implausible: %+v", st)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// scrape reads what tidygram's ops server exports.
func TestScrapeOps(t *testing.T) {
	hs := httptest.NewServer(ops.New().Handler())
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	g, h, err := scrape(t.Context(), client, hs.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if g < 1 || h <= 0 {
		t.Fatalf("goroutines %v, heap %v", g, h)
	}
	if _, _, err := scrape(t.Context(), client, hs.URL+"/nothing"); err == nil {
		t.Fatal("no error for a 404")
	}
}

// The summary line says why a trend passed or failed.
func TestTrendVerdict(t *testing.T) {
	tests := []struct {
		tr   Trend
		want string
	}{
		{Trend{}, "not measured"},
		{Trend{Known: true, Slope: 1, Limit: 4}, "ok"},
		{Trend{Known: true, Unit: "MiB", Slope: 8.65, Limit: 4, Growth: 1.5, Floor: 2, Noise: 0.5}, "ok: +1.5 MiB over the window is under the 2 MiB floor"},
		{Trend{Known: true, Unit: "MiB", Slope: 8.65, Limit: 4, Growth: 3, Floor: 2, Noise: 5}, "ok: +3 MiB over the window is within the samples' noise (3σ 5 MiB)"},
		{Trend{Known: true, Slope: 9, Limit: 5, Growth: 40, Floor: 10, Noise: 3, Failed: true}, "FAIL: +40 over the window, above the 10 floor and the 3 noise (3σ)"},
	}
	for _, tt := range tests {
		if got := tt.tr.Verdict(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.tr, got, tt.want)
		}
	}
}
