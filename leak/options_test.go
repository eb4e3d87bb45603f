package leak

import (
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
)

// TestWatchdogOptionsValidated: a value NewWatchdog cannot use is an
// *OptionError naming the option, never clamped.
func TestWatchdogOptionsValidated(t *testing.T) {
	tests := []struct {
		name   string
		opts   []WatchdogOption
		option string // "" when valid
	}{
		{"defaults", nil, ""},
		{"window 0", []WatchdogOption{WithWindow(0)}, "WithWindow"},
		{"negative window", []WatchdogOption{WithWindow(-time.Second)}, "WithWindow"},
		{"interval 0", []WatchdogOption{WithSampleInterval(0)}, "WithSampleInterval"},
		{"tiny interval", []WatchdogOption{WithSampleInterval(time.Nanosecond)}, ""},
		{"negative limit", []WatchdogOption{WithLimits(Limits{Goroutines: -1})}, "WithLimits"},
		{"zero limits switch off", []WatchdogOption{WithLimits(Limits{})}, ""},
		{"proven every under a minute", []WatchdogOption{WithProvenEvery(time.Second)}, "WithProvenEvery"},
		{"proven every a minute", []WatchdogOption{WithProvenEvery(time.Minute)}, ""},
		{"nil alarm", []WatchdogOption{WithAlarm(nil)}, "WithAlarm"},
		{"nil sampler", []WatchdogOption{WithSampler(nil)}, "WithSampler"},
		{"nil clock", []WatchdogOption{WithWatchClock(nil)}, "WithWatchClock"},
		{"nil proven source", []WatchdogOption{WithProvenSource(nil)}, "WithProvenSource"},
		{"nil heap profiler", []WatchdogOption{WithHeapProfiler(nil)}, "WithHeapProfiler"},
		{"nil owners switch snapshots off", []WatchdogOption{WithOwners(nil)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWatchdog(tt.opts...)
			opterrtest.Check(t, err, w == nil, tt.option)
		})
	}
}

// TestSurvivorOptionsValidated: a value NewSurvivors cannot use is an
// *OptionError naming the option, never clamped.
func TestSurvivorOptionsValidated(t *testing.T) {
	tests := []struct {
		name     string
		opts     []SurvivorOption
		option   string        // "" when valid
		interval time.Duration // the interval of a valid one
	}{
		{"defaults", nil, "", DefaultInterval},
		{"grace 0", []SurvivorOption{WithGrace(0)}, "", minInterval},
		{"short grace shortens the default interval", []SurvivorOption{WithGrace(time.Second)}, "", time.Second},
		{"negative grace", []SurvivorOption{WithGrace(-time.Second)}, "WithGrace", 0},
		{"interval 0", []SurvivorOption{WithInterval(0)}, "WithInterval", 0},
		{"interval under 1 ms", []SurvivorOption{WithInterval(time.Microsecond)}, "WithInterval", 0},
		{"interval 1 ms", []SurvivorOption{WithInterval(time.Millisecond)}, "", time.Millisecond},
		{"max suspects 0", []SurvivorOption{WithMaxSuspects(0)}, "WithMaxSuspects", 0},
		{"max pending 0", []SurvivorOption{WithMaxPending(0)}, "WithMaxSuspects", 0},
		{"nil report", []SurvivorOption{WithReport(nil)}, "WithReport", 0},
		{"nil clock", []SurvivorOption{WithClock(nil)}, "WithClock", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSurvivors("bot", tt.opts...)
			opterrtest.Check(t, err, s == nil, tt.option)
			if err == nil && s.interval != tt.interval {
				t.Fatalf("interval %v, want %v", s.interval, tt.interval)
			}
		})
	}
}
