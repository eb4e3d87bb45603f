//go:build goexperiment.goroutineleakprofile

package leak

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
	"github.com/tidygram/tidygram/internal/wait"
)

// leakSender starts a goroutine whose receiver is gone: its channel is
// unreachable once this returns, which the GC can prove.
func leakSender() {
	ch := make(chan int)
	go func() { ch <- 1 }()
}

func TestProvenLeakReported(t *testing.T) {
	if !LeakProfileCompiled {
		t.Fatal("built with the experiment but LeakProfileCompiled is false")
	}
	runHandler("botP", "handler", "/search", 501, func(context.Context) { leakSender() })
	var proven []Group
	wait.For(10*time.Second, func() bool {
		gs, err := ProvenLeaks()
		if err != nil {
			t.Fatal(err)
		}
		proven = Filter(gs, func(g Group) bool { return g.Labels[LabelBot] == "botP" })
		return len(proven) > 0
	})
	if Count(proven) != 1 || proven[0].Leaked != 1 || proven[0].Labels[LabelHandler] != "/search" || proven[0].Labels[LabelUpdateID] != "501" {
		t.Fatalf("proven leaks %+v", proven)
	}
	if o := proven[0].Origin(); !strings.Contains(o.Func, "leak.leakSender.func1") {
		t.Errorf("origin %v", o)
	}
	// The watchdog's low-frequency check raises it as an alarm.
	var alarm Alarm
	w := opterrtest.Must(NewWatchdog(WithOwners(nil), WithProvenEvery(time.Minute), WithAlarm(func(a Alarm) { alarm = a })))
	w.Observe(Sample{Time: time.Now(), Goroutines: -1, HeapLive: -1, FDs: -1})
	if alarm.Resource != "proven_leaks" || !strings.Contains(alarm.String(), "handler=/search") {
		t.Errorf("alarm %+v", alarm)
	}
	// And the debug=2 form explains it.
	gs, err := ProvenGoroutines()
	if err != nil {
		t.Fatal(err)
	}
	fs := Diagnose(GroupGoroutines(gs))
	found := false
	for _, f := range fs {
		found = found || f.ID == "leaked-send"
	}
	if !found {
		t.Errorf("leaked-send not diagnosed: %+v", fs)
	}
}
