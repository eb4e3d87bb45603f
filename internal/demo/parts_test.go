package demo

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		spec    string
		want    []FaultRule
		wantErr string
	}{
		{"off", nil, ""},
		{"", nil, ""},
		{"getUpdates:502:0.2", []FaultRule{{Method: "getUpdates", Fault: tgtest.Fault{Kind: tgtest.FaultBadGateway}, Probability: 0.2}}, ""},
		{"sendMessage:429:0.05:3, getUpdates:hang:1:1500ms", []FaultRule{
			{Method: "sendMessage", Fault: tgtest.Fault{Kind: tgtest.FaultTooMany, RetryAfter: 3}, Probability: 0.05},
			{Method: "getUpdates", Fault: tgtest.Fault{Kind: tgtest.FaultHang, Duration: 1500 * time.Millisecond}, Probability: 1},
		}, ""},
		{"*:CUT:0.1", []FaultRule{{Method: "*", Fault: tgtest.Fault{Kind: tgtest.FaultCut}, Probability: 0.1}}, ""},
		{"getUpdates:502", nil, "want method:kind:probability"},
		{":502:0.1", nil, "empty method"},
		{"getUpdates:teapot:0.1", nil, "unknown fault kind"},
		{"getUpdates:502:0", nil, "probability"},
		{"getUpdates:502:1.5", nil, "probability"},
		{"getUpdates:502:NaN", nil, "probability"},
		{"getUpdates:429:0.1:0", nil, "retry_after"},
		{"getUpdates:hang:0.1:forever", nil, "duration"},
		{"getUpdates:502:0.1:5", nil, "takes no argument"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseFaults(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrFaultSpec) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrFaultSpec with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	def, err := ParseFaults("on")
	if err != nil || len(def) != 6 {
		t.Fatalf("default spec: %v, %v", def, err)
	}
}

// A spec that parses is written back by FormatFaults into one that parses
// to the same rules.
func FuzzParseFaults(f *testing.F) {
	f.Add(DefaultFaultSpec)
	f.Add("getUpdates:hang:0.5:1m,*:huge:1")
	f.Add("a:b:c:d:e")
	f.Fuzz(func(t *testing.T, spec string) {
		rules, err := ParseFaults(spec)
		if err != nil || len(rules) == 0 {
			return
		}
		again, err := ParseFaults(FormatFaults(rules))
		if err != nil || !reflect.DeepEqual(again, rules) {
			t.Fatalf("%q → %q → %+v, %v", spec, FormatFaults(rules), again, err)
		}
	})
}

// Quantiles of a Histogram are within 0.8% of the exact nearest-rank
// quantiles of the same samples, from nanoseconds to an hour.
func TestHistogramAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dur := func(n time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(n))) }
	gen := func(n int, f func(i int) time.Duration) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = f(i)
		}
		return s
	}
	tests := []struct {
		name    string
		samples []time.Duration
	}{
		{"1..100 ms", gen(100, func(i int) time.Duration { return time.Duration(i+1) * time.Millisecond })},
		{"uniform 1 µs–2 s", gen(20000, func(int) time.Duration { return time.Microsecond + dur(2*time.Second) })},
		{"log-normal around 3 ms", gen(20000, func(int) time.Duration {
			return time.Duration(3e6 * math.Exp(rng.NormFloat64()*1.5))
		})},
		{"bimodal 1 ms and 1 s", gen(10000, func(i int) time.Duration {
			if i%10 == 0 {
				return time.Second + dur(100*time.Millisecond)
			}
			return time.Millisecond + dur(100*time.Microsecond)
		})},
		{"below and around 64 ns", gen(5000, func(int) time.Duration { return dur(200 * time.Nanosecond) })},
		{"constant 251.2 ms", gen(1000, func(int) time.Duration { return 251200 * time.Microsecond })},
		{"one sample", []time.Duration{1234567 * time.Nanosecond}},
		{"up to an hour", gen(1000, func(int) time.Duration { return dur(time.Hour) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, d := range tt.samples {
				h.Observe(d)
			}
			s := h.Snapshot()
			if s.Count() != uint64(len(tt.samples)) {
				t.Fatalf("count %d, want %d", s.Count(), len(tt.samples))
			}
			sorted := slices.Clone(tt.samples)
			slices.Sort(sorted)
			for _, q := range []float64{0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
				exact := sorted[max(int(math.Ceil(q*float64(len(sorted))))-1, 0)]
				got := s.Quantile(q)
				if diff := math.Abs(float64(got - exact)); diff > 0.008*float64(exact) {
					t.Errorf("p%v = %v, exact %v: %.2f%% off, want ≤ 0.8%%", q*100, got, exact, 100*diff/float64(exact))
				}
			}
		})
	}
}

// An empty histogram has no quantile; a duration beyond 2^42 ns counts
// as 2^42 ns; Sub keeps only what was observed since.
func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if q := h.Snapshot().Quantile(0.5); q != 0 {
		t.Fatalf("empty p50 = %v", q)
	}
	h.Observe(time.Millisecond)
	before := h.Snapshot()
	h.Observe(100 * time.Hour)
	h.Observe(-time.Second) // a clock step: counted as 0
	since := h.Snapshot().Sub(before)
	if since.Count() != 2 || since.Quantile(1) != 1<<histMaxBits || since.Quantile(0.5) != 0 {
		t.Fatalf("since: count %d, p100 %v, p50 %v; want 2, %v, 0", since.Count(), since.Quantile(1), since.Quantile(0.5), time.Duration(1<<histMaxBits))
	}
	for i := range histBuckets - 1 { // bucket middles increase and map back to their bucket
		if v := histValue(i); histIndex(v) != i || (i > 0 && v <= histValue(i-1)) {
			t.Fatalf("bucket %d: middle %v maps to %d", i, v, histIndex(v))
		}
	}
}

// The recorder counts distinct updates, in any order, and runs for an id
// it saw before as handled twice.
func TestRecorder(t *testing.T) {
	r := &Recorder{}
	h := r.UpdateHandled
	for _, id := range []int64{500, 501, 300, 1000, 501, 299, 300} {
		h(&tg.Update{UpdateID: id}, "r", time.Millisecond, nil)
	}
	h(&tg.Update{UpdateID: 2000}, "r", time.Millisecond, errors.New("boom"))
	st := r.Stats()
	if st.Handled != 6 || st.HandledTwice != 2 || st.Errors != 1 || len(st.ErrorNotes) != 1 {
		t.Fatalf("stats %+v: want 6 handled, 2 twice, 1 error", st)
	}
}
