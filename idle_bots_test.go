package tidygram_test

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/tgtest"
)

// BenchmarkIdleBots: what an idle bot costs in a process that hosts many
// (bot-builder platforms): goroutines and live heap per bot, each bot
// long-polling an emulator of its own with nothing to handle. Heap and
// stack include the emulators' side (an over-estimate); goroutines count
// only those labelled with a bot (the bot's own and the connections it
// dialled). Run with -bench IdleBots -benchtime 1x; IDLE_HEAP_PROFILE=file
// writes the heap profile taken at the measurement.
func BenchmarkIdleBots(b *testing.B) {
	const bots = 100
	for range b.N {
		srvs := make([]*tgtest.Server, bots)
		for i := range srvs {
			srvs[i] = emulator(b)
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap0 := ms.HeapAlloc
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, bots)
		var all []*tidygram.Bot
		for i := range bots {
			bot, err := tidygram.New(srvs[i].Token(), tidygram.WithBaseURL(srvs[i].URL()), tidygram.WithPollTimeout(30*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, bot)
			go func() { done <- bot.Run(ctx) }()
		}
		eventually(b, 30*time.Second, "every bot started", func() bool {
			for _, bot := range all {
				if bot.Me() == nil {
					return false
				}
			}
			return true
		})
		time.Sleep(time.Second) // let every first long poll go out
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if f := os.Getenv("IDLE_HEAP_PROFILE"); f != "" {
			if w, err := os.Create(f); err == nil {
				pprof.Lookup("heap").WriteTo(w, 0)
				w.Close()
			}
		}
		groups, err := leak.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		owned := leak.Count(leak.Filter(groups, func(g leak.Group) bool { return g.Labels[tidygram.LabelBot] != "" }))
		b.ReportMetric(float64(owned)/bots, "goroutines/bot")
		b.ReportMetric(float64(ms.HeapAlloc-heap0)/bots/1024, "KiB-heap/bot")
		b.ReportMetric(float64(ms.StackInuse)/bots/1024, "KiB-stack/bot")
		cancel()
		for range bots {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
}
