package leak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
)

// feed gives w one sample per interval for d, with value(i) goroutines,
// and returns the alarms raised and the minute of the first one (-1: none).
func feed(w *Watchdog, start time.Time, interval, d time.Duration, value func(i int) float64) ([]Alarm, float64) {
	var all []Alarm
	first := -1.0
	for i := 0; time.Duration(i)*interval <= d; i++ {
		at := start.Add(time.Duration(i) * interval)
		as := w.Observe(Sample{Time: at, Goroutines: value(i), HeapLive: -1, FDs: -1})
		if len(as) > 0 && first < 0 {
			first = at.Sub(start).Minutes()
		}
		all = append(all, as...)
	}
	return all, first
}

func TestWatchdog(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const iv = 30 * time.Second
	noise := func(seed uint64) func() float64 {
		r := rand.New(rand.NewPCG(seed, 1))
		return func() float64 { return float64(r.IntN(41) - 20) } // ±20 goroutines: handlers coming and going
	}
	tests := []struct {
		name      string
		value     func(i int) float64 // i: sample number, 2 per minute
		wantFire  bool
		fireAfter float64 // minutes, at least
	}{
		{"leak 10/min", func(i int) float64 { return 100 + 5*float64(i) }, true, 10},
		{"leak 6/min under noise", func() func(int) float64 {
			n := noise(1)
			return func(i int) float64 { return 200 + 3*float64(i) + n() }
		}(), true, 10},
		{"steady under noise", func() func(int) float64 {
			n := noise(2)
			return func(i int) float64 { return 200 + n() }
		}(), false, 0},
		{"slow growth 2/min", func(i int) float64 { return 100 + float64(i) }, false, 0},
		{"burst that stays", func(i int) float64 {
			if i < 30 {
				return 100
			}
			return 400
		}, false, 0},
		{"sawtooth of a periodic job", func(i int) float64 { return 100 + float64(i%8)*25 }, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hooked []Alarm
			w := opterrtest.Must(NewWatchdog(WithOwners(nil), WithAlarm(func(a Alarm) { hooked = append(hooked, a) })))
			alarms, first := feed(w, start, iv, 2*time.Hour, tt.value)
			if !tt.wantFire {
				if len(alarms) != 0 {
					t.Fatalf("fired %d times, first at minute %.1f: %v", len(alarms), first, alarms[0])
				}
				return
			}
			if len(alarms) == 0 {
				t.Fatal("did not fire")
			}
			if first < tt.fireAfter {
				t.Errorf("fired at minute %.1f, before a whole window", first)
			}
			a := alarms[0]
			if a.Resource != "goroutines" || a.Rate < DefaultGoroutineLimit || a.To <= a.From || a.Window != DefaultWindow {
				t.Errorf("alarm %+v", a)
			}
			// Re-armed only after a new window: at most one per 10 min.
			if len(alarms) > 12 || len(hooked) != len(alarms) {
				t.Errorf("%d alarms in 2 h (%d hooked)", len(alarms), len(hooked))
			}
		})
	}
}

func TestWatchdogHeapAndFDs(t *testing.T) {
	start := time.Unix(0, 0)
	w := opterrtest.Must(NewWatchdog(WithOwners(nil), WithAlarm(func(Alarm) {})))
	var got []string
	for i := 0; i <= 40; i++ {
		s := Sample{Time: start.Add(time.Duration(i) * 30 * time.Second), Goroutines: 50,
			HeapLive: 64<<20 + float64(i)*(4<<20), // 8 MiB/min
			FDs:      20 + float64(i)*3}           // 6/min
		for _, a := range w.Observe(s) {
			got = append(got, a.Resource)
		}
	}
	if len(got) != 2 || got[0] != "heap_live_bytes" || got[1] != "fds" {
		t.Errorf("alarms %v, want heap_live_bytes and fds once each", got)
	}
}

func TestWatchdogNamesGrowingOwners(t *testing.T) {
	start := time.Unix(0, 0)
	i := 0
	owners := func() ([]Group, error) {
		return []Group{
			{Count: 16, Labels: map[string]string{LabelBot: "b", LabelComponent: "worker"}, Stack: []Frame{{Func: "dispatch.loop"}}},
			{Count: 1 + i, Labels: map[string]string{LabelBot: "b", LabelComponent: "handler", LabelHandler: "/remind", LabelUpdateID: "9"}, Stack: []Frame{{Func: "main.remind.func1"}}},
		}, nil
	}
	var alarm Alarm
	w := opterrtest.Must(NewWatchdog(WithOwners(owners), WithAlarm(func(a Alarm) { alarm = a })))
	for ; i <= 40; i++ {
		w.Observe(Sample{Time: start.Add(time.Duration(i) * 30 * time.Second), Goroutines: 17 + float64(i)*4, HeapLive: -1, FDs: -1})
	}
	if len(alarm.Owners) == 0 || alarm.Owners[0].Key != "handler /remind" || alarm.Owners[0].Growth() <= 0 {
		t.Fatalf("alarm owners %+v", alarm.Owners)
	}
	if w.Alarms() != 1 {
		t.Errorf("%d alarms", w.Alarms())
	}
}

func TestWatchdogProven(t *testing.T) {
	start := time.Unix(0, 0)
	calls := 0
	proven := func() ([]Group, error) {
		calls++
		return []Group{{Count: 3, Leaked: 3, State: "chan send", Stack: []Frame{{Func: "main.f"}}}}, nil
	}
	w := opterrtest.Must(NewWatchdog(WithOwners(nil), WithProvenEvery(time.Minute), WithProvenSource(proven), WithAlarm(func(Alarm) {})))
	var got []Alarm
	for i := 0; i < 10; i++ { // 5 minutes
		got = append(got, w.Observe(Sample{Time: start.Add(time.Duration(i) * 30 * time.Second), Goroutines: 10, HeapLive: -1, FDs: -1})...)
	}
	if calls != 5 || len(got) != 5 || got[0].Resource != "proven_leaks" || Count(got[0].Proven) != 3 {
		t.Errorf("%d profile reads and %d alarms in 5 min, want 5 (at most one a minute): %+v", calls, len(got), got)
	}
}

func TestWatchdogRunSamplesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	w := opterrtest.Must(NewWatchdog(WithSampleInterval(time.Millisecond), WithOwners(nil), WithSampler(func(now time.Time) Sample {
		n++
		if n == 5 {
			cancel()
		}
		return ReadSample(now)
	})))
	if err := w.Run(ctx); err != context.Canceled || n != 5 {
		t.Errorf("Run: %v after %d samples", err, n)
	}
	runtime.GC() // the live heap is as of the last GC: none yet when this test runs alone
	s := ReadSample(time.Now())
	if s.Goroutines < 1 || s.HeapLive <= 0 || s.FDs < 0 {
		t.Errorf("ReadSample %+v", s)
	}
}

// explainerFunc is a HeapExplainer of a function.
type explainerFunc func(before, after []byte, max int) ([]HeapSite, error)

func (f explainerFunc) ExplainHeap(before, after []byte, max int) ([]HeapSite, error) {
	return f(before, after, max)
}

// The heap alarm hands the explainer the profile of the window's start
// and one taken at the alarm; profiles are taken only with an explainer,
// and only one is kept between alarms.
func TestWatchdogHeapExplainer(t *testing.T) {
	start := time.Unix(0, 0)
	heapAt := func(i int) Sample {
		return Sample{Time: start.Add(time.Duration(i) * 30 * time.Second), Goroutines: -1, HeapLive: 64<<20 + float64(i)*(4<<20), FDs: -1}
	}
	tests := []struct {
		name      string
		explainer bool
		profErr   error
		wantProfs int    // profiles taken in 61 samples (30 min)
		wantPair  string // before → after handed to the explainer at the first alarm
		wantErr   string
	}{
		{"no explainer", false, nil, 0, "", ""},
		// One at the start, one at each of the two alarms (minutes 10 and
		// 20.5); none in between, since the heap keeps rising.
		{"explainer", true, nil, 3, "p1 -> p2", ""},
		{"profile fails", true, errors.New("no heap"), 61, "", "heap profile: no heap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			profs := 0
			profile := func() ([]byte, error) {
				profs++
				if tt.profErr != nil {
					return nil, tt.profErr
				}
				return fmt.Appendf(nil, "p%d", profs), nil
			}
			var pairs []string
			opts := []WatchdogOption{WithOwners(nil), WithAlarm(func(Alarm) {}), WithHeapProfiler(profile)}
			if tt.explainer {
				opts = append(opts, WithHeapExplainer(explainerFunc(func(before, after []byte, max int) ([]HeapSite, error) {
					pairs = append(pairs, string(before)+" -> "+string(after))
					return []HeapSite{{Site: "main.save", Handler: "main.savePhoto", Growth: 1 << 20, Verdict: "leak", Pattern: "read-whole"}}, nil
				})))
			}
			w := opterrtest.Must(NewWatchdog(opts...))
			var alarms []Alarm
			for i := 0; i <= 60; i++ {
				alarms = append(alarms, w.Observe(heapAt(i))...)
			}
			if len(alarms) != 2 || profs != tt.wantProfs {
				t.Fatalf("%d alarms, %d profiles taken; want 2 and %d", len(alarms), profs, tt.wantProfs)
			}
			a := alarms[0]
			switch {
			case tt.wantPair != "":
				if len(pairs) != 2 || pairs[0] != tt.wantPair || len(a.HeapSites) != 1 || !strings.Contains(a.String(), "main.save (handler main.savePhoto) [read-whole]") {
					t.Errorf("pairs %q, alarm %s", pairs, a)
				}
			case tt.wantErr != "":
				if a.HeapError != tt.wantErr || len(a.HeapSites) != 0 {
					t.Errorf("alarm %+v", a)
				}
			default:
				if a.HeapError != "" || len(a.HeapSites) != 0 {
					t.Errorf("alarm %+v", a)
				}
			}
		})
	}
}

// With a flat heap, the window-start profile is replaced once it is a
// window old: one profile kept, one taken per window.
func TestWatchdogHeapBaselineRenewed(t *testing.T) {
	profs := 0
	w := opterrtest.Must(NewWatchdog(WithOwners(nil), WithAlarm(func(Alarm) {}),
		WithHeapProfiler(func() ([]byte, error) { profs++; return []byte("p"), nil }),
		WithHeapExplainer(explainerFunc(func([]byte, []byte, int) ([]HeapSite, error) { return nil, nil }))))
	for i := 0; i <= 50; i++ { // 25 minutes
		w.Observe(Sample{Time: time.Unix(0, 0).Add(time.Duration(i) * 30 * time.Second), Goroutines: -1, HeapLive: 64 << 20, FDs: -1})
	}
	if profs != 3 { // minutes 0, 10, 20
		t.Errorf("%d heap profiles in 25 min, want 3", profs)
	}
}

// TestWatchdogRealClockJitter: samples a little off the interval, as a
// real clock takes them, still span the window, and sustained growth is
// alarmed (the kept samples once always spanned a little less than the
// window, and no alarm ever fired).
func TestWatchdogRealClockJitter(t *testing.T) {
	start := time.Unix(0, 0)
	w := opterrtest.Must(NewWatchdog(WithOwners(nil), WithAlarm(func(Alarm) {})))
	alarms := 0
	for i := 0; i <= 40; i++ {
		jitter := time.Duration(i%3) * time.Millisecond
		s := Sample{Time: start.Add(time.Duration(i)*30*time.Second + jitter), Goroutines: 50,
			HeapLive: 64<<20 + float64(i)*(4<<20), FDs: -1} // 8 MiB/min
		alarms += len(w.Observe(s))
	}
	if alarms != 1 {
		t.Fatalf("%d alarms, want 1", alarms)
	}
}
