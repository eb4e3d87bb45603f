package soak_test

import (
	"fmt"
	"math"
	"time"

	"github.com/tidygram/tidygram/internal/soak"
)

// Trends fits each resource over the second half of a run: here a bot
// whose goroutines grow by 12 a minute after a flat warm-up, while its
// open files stay put.
func ExampleTrends() {
	var samples []soak.Sample
	for s := 0; s <= 600; s += 5 {
		at := time.Duration(s) * time.Second
		samples = append(samples, soak.Sample{
			At:         at,
			Goroutines: 40 + 12*at.Minutes(),
			FDs:        20,
			HeapBytes:  math.NaN(), RSSBytes: math.NaN(), Threads: math.NaN(), // not measured
		})
	}
	for _, t := range soak.Trends(samples, 5*time.Minute, 10*time.Minute, soak.Thresholds{}) {
		if t.Known {
			fmt.Printf("%s: %+.1f/min, failed %v\n", t.Resource, t.Slope, t.Failed)
		}
	}
	// Output:
	// goroutines: +12.0/min, failed true
	// fds: +0.0/min, failed false
}
