package heap_test

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/heap"
)

// remember allocates a chunk that its caller keeps.
//
//go:noinline
func remember(size int) []byte { return make([]byte, size) }

// The Watchdog's heap alarm names the growing sites when leak/heap's
// Explainer is plugged in. A program wires it in its main, beside the
// bot:
//
//	bot, err := tidygram.New(token, tidygram.WithWatchdog(
//		leak.WithHeapExplainer(heap.Explainer())))
//
// (the bot names each site's route), or, for a Watchdog of its own,
// leak.NewWatchdog with the same option.
//
// Here samples are fed by hand, 30 s apart on a made-up clock, while the
// program keeps 256 KiB more at each.
func ExampleExplainer() {
	var kept [][]byte
	w, err := leak.NewWatchdog(
		leak.WithHeapExplainer(heap.Explainer()),
		leak.WithHeapProfiler(func() ([]byte, error) { runtime.GC(); return leak.HeapProfile() }),
		leak.WithLimits(leak.Limits{HeapBytes: 256 << 10}), // per minute
		leak.WithOwners(nil),
		leak.WithAlarm(func(leak.Alarm) {}), // Observe returns the alarms too
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 21 { // the default window, 10 minutes
		kept = append(kept, remember(256<<10))
		s := leak.Sample{Time: start.Add(time.Duration(i) * 30 * time.Second), Goroutines: -1, HeapLive: float64(len(kept) << 18), FDs: -1}
		for _, a := range w.Observe(s) {
			site := a.HeapSites[0]
			fmt.Println(a.Resource, site.Verdict, strings.Fields(site.Site)[0], site.Pattern)
		}
	}
	runtime.KeepAlive(kept)
	// Output:
	// heap_live_bytes leak github.com/tidygram/tidygram/leak/heap_test.remember large-retained
}
