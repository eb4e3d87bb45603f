package tidygram_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/leak"
)

// BenchmarkIdleBots: what an idle bot costs in a process that hosts many
// (bot-builder platforms): goroutines, live heap and goroutine stacks per
// bot, each bot long-polling an emulator of its own with nothing to
// handle. The emulators run in a child process (this test binary, see
// TestIdleEmulators), so the figures are the bots' alone; goroutines
// count those labelled with a bot (its own and the connections it
// dialled). The measurement is taken once every bot's long poll waits at
// its emulator. Run with -bench IdleBots -benchtime 1x; IDLE_BOTS=n sets
// the number of bots (default 100), IDLE_HEAP_PROFILE=file writes the
// heap profile taken at the measurement.
func BenchmarkIdleBots(b *testing.B) {
	bots := 100
	if n, err := strconv.Atoi(os.Getenv("IDLE_BOTS")); err == nil && n > 0 {
		bots = n
	}
	for range b.N {
		emus := idleEmulators(b, bots)
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap0, stack0 := ms.HeapAlloc, ms.StackInuse
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, bots)
		var all []*tidygram.Bot
		for _, e := range emus {
			bot, err := tidygram.New(e.token, tidygram.WithBaseURL(e.url), tidygram.WithPollTimeout(30*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, bot)
			go func() { done <- bot.Run(ctx) }()
		}
		eventually(b, 60*time.Second, "every bot started", func() bool {
			for _, bot := range all {
				if bot.Me() == nil {
					return false
				}
			}
			return true
		})
		eventually(b, 60*time.Second, "every bot's long poll waiting at its emulator", func() bool {
			groups, err := leak.Snapshot()
			if err != nil {
				b.Fatal(err)
			}
			return polling(groups) == bots
		})
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
		perBot := func(v uint64) float64 { return float64(v) / float64(bots) / 1024 }
		b.ReportMetric(float64(owned)/float64(bots), "goroutines/bot")
		b.ReportMetric(perBot(ms.HeapAlloc-heap0), "KiB-heap/bot")
		b.ReportMetric(perBot(ms.StackInuse-stack0), "KiB-stack/bot")
		b.ReportMetric(perBot(ms.HeapAlloc-heap0+ms.StackInuse-stack0), "KiB/bot")
		cancel()
		for range bots {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
}

// idleEnv makes this test binary serve idle emulators (TestIdleEmulators).
const idleEnv = "TIDYGRAM_IDLE_EMULATORS"

type idleEmulator struct{ url, token string }

// idleEmulators starts n emulators in a child process (this test binary
// running TestIdleEmulators) and returns their addresses; the child ends
// at tb's cleanup, when its standard input closes.
func idleEmulators(tb testing.TB, n int) []idleEmulator {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleEmulators$", "-test.count=1")
	cmd.Env = append(os.Environ(), idleEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			tb.Errorf("emulator process: %v", err)
		}
	})
	var emus []idleEmulator
	sc := bufio.NewScanner(out)
	for len(emus) < n && sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "emulator" {
			emus = append(emus, idleEmulator{url: f[1], token: f[2]})
		}
	}
	if len(emus) < n {
		tb.Fatalf("emulator process gave %d of %d emulators: %v", len(emus), n, sc.Err())
	}
	go io.Copy(io.Discard, out) // the rest of its output, until it exits
	return emus
}

// TestIdleEmulators is BenchmarkIdleBots' emulator process: with
// TIDYGRAM_IDLE_EMULATORS=n it serves n emulators, prints "emulator URL
// TOKEN" for each and serves until its standard input closes; otherwise
// it is skipped.
func TestIdleEmulators(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(idleEnv))
	if err != nil {
		t.Skip("the emulator process of BenchmarkIdleBots")
	}
	for range n {
		srv := emulator(t)
		fmt.Printf("emulator %s %s\n", srv.URL(), srv.Token())
	}
	io.Copy(io.Discard, os.Stdin)
}

// polling counts the bots with a goroutine in their poll loop waiting for
// a getUpdates answer.
func polling(groups []leak.Group) int {
	seen := map[string]bool{}
	for _, g := range groups {
		id := g.Labels[tidygram.LabelBot]
		if id == "" || seen[id] {
			continue
		}
		var inPoll, waiting bool
		for _, f := range g.Stack {
			inPoll = inPoll || strings.Contains(f.Func, "internal/poller.(*Poller).loop")
			waiting = waiting || strings.Contains(f.Func, "net/http.(*persistConn).roundTrip")
		}
		if inPoll && waiting {
			seen[id] = true
		}
	}
	return len(seen)
}
