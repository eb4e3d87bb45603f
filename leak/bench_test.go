package leak

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
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
// another bot, after 1,000 handlers ended (none leaked).
func BenchmarkSurvivorsCheck(b *testing.B) {
	stop := parkGoroutines("bench", 10_000)
	defer stop()
	clock := &fakeClock{t: time.Unix(0, 0)}
	s := opterrtest.Must(NewSurvivors("other-bot", WithClock(clock.Now)))
	for b.Loop() {
		b.StopTimer()
		for i := range int64(1000) {
			s.Started(i)
			s.Ended(i, "/h")
		}
		clock.Add(DefaultGrace)
		b.StartTimer()
		if _, err := s.CheckNow(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSurvivorsCheckIdle: a check of a bot no handler of which ended
// since the last one: what each of many idle bots pays per interval.
func BenchmarkSurvivorsCheckIdle(b *testing.B) {
	s := opterrtest.Must(NewSurvivors("idle"))
	for b.Loop() {
		if _, err := s.CheckNow(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnded: the cost the runtime pays per handler (Started before
// it, Ended after it).
func BenchmarkEnded(b *testing.B) {
	s := opterrtest.Must(NewSurvivors("b", WithSnapshot(func() ([]Group, error) { return nil, nil }, nil)))
	i := int64(0)
	for b.Loop() {
		s.Started(i)
		s.Ended(i, "/h")
		i++
	}
}

// BenchmarkEndedParallel: BenchmarkEnded from every P at once, as workers
// finishing handlers together.
func BenchmarkEndedParallel(b *testing.B) {
	s := opterrtest.Must(NewSurvivors("b", WithSnapshot(func() ([]Group, error) { return nil, nil }, nil)))
	var next sync.Mutex
	base := int64(0)
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		i := base
		base += 1 << 40
		next.Unlock()
		for pb.Next() {
			s.Started(i)
			s.Ended(i, "/h")
			i++
		}
	})
}

// BenchmarkRetained50k: the heap Survivors keeps after 50,000 handled
// updates whose goroutines ended with them, before any check (retained-B).
func BenchmarkRetained50k(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := opterrtest.Must(NewSurvivors("b", WithSnapshot(func() ([]Group, error) { return nil, nil }, nil)))
		for i := range int64(50_000) {
			s.Started(i)
			s.Ended(i, "/h")
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "retained-B")
		runtime.KeepAlive(s)
	}
}
