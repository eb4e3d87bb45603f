package leak

import (
	"context"
	"fmt"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
)

// parkGoroutines starts n goroutines labelled as handler goroutines of
// updates 0..n-1 of bot and returns a function that ends them.
func parkGoroutines(bot string, n int) func() {
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		pprof.Do(context.Background(), pprof.Labels(LabelBot, bot, LabelComponent, "handler", LabelHandler, "/h", LabelUpdateID, fmt.Sprint(i)), func(context.Context) {
			wg.Go(func() { <-release })
		})
	}
	return func() { close(release); wg.Wait() }
}

// BenchmarkSurvivorsCheck: one check over 10,000 live goroutines of
// another bot, with 1,000 updates due (none of them leaked).
func BenchmarkSurvivorsCheck(b *testing.B) {
	stop := parkGoroutines("bench", 10_000)
	defer stop()
	clock := &fakeClock{t: time.Unix(0, 0)}
	s := NewSurvivors("other-bot", WithClock(clock.Now))
	for b.Loop() {
		b.StopTimer()
		for i := range int64(1000) {
			s.Ended(i, "/h")
		}
		clock.Add(DefaultGrace)
		b.StartTimer()
		if _, err := s.CheckNow(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnded: the cost the runtime pays after each handler.
func BenchmarkEnded(b *testing.B) {
	s := NewSurvivors("b", WithSnapshot(func() ([]Group, error) { return nil, nil }, nil))
	i := int64(0)
	for b.Loop() {
		s.Ended(i, "/h")
		i++
	}
}
