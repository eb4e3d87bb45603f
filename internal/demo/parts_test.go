package demo

import (
	"errors"
	"reflect"
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

func TestHistogram(t *testing.T) {
	var h Histogram
	if q := h.Snapshot().Quantile(0.5); q != 0 {
		t.Fatalf("empty p50 = %v", q)
	}
	for i := 1; i <= 100; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	s := h.Snapshot()
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}}
	for _, tt := range tests {
		got := s.Quantile(tt.q)
		if got < tt.want || float64(got) > float64(tt.want)*1.26 { // one bucket: 10^(1/10)
			t.Errorf("p%v = %v, want %v (one bucket above at most)", tt.q*100, got, tt.want)
		}
	}
	h.Observe(time.Hour) // beyond the last bucket
	if s := h.Snapshot().Sub(s); s.Count() != 1 || s.Quantile(1) < 1000*time.Second {
		t.Fatalf("overflow bucket: %d, %v", s.Count(), s.Quantile(1))
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
