package limit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// jitterAllowance is how many sends over the global rate a one-second
// window at the server may see through scheduling and network delays.
const jitterAllowance = 10

// TestSustainedLoadNo429 sends about 290 messages as fast as the bot's
// code can, to 100 quiet users, 3 busy users and 2 busy groups, against
// the emulator with Telegram's flood control on. With the default Control
// the emulator answers no 429 at all, and the calls it sees, counted per
// window, stay within the limits. It logs the throughput.
func TestSustainedLoadNo429(t *testing.T) {
	if testing.Short() {
		t.Skip("about 10 s of load")
	}
	rec := newRecorder(t, tgtest.WithFlood(tgtest.FloodLimits{}))
	ctl := opterrtest.Must(New())
	fl := &floodLog{}
	client, err := tg.NewClient(rec.emu.Token(), tg.WithBaseURL(rec.srv.URL), tg.WithMiddleware(ctl.Middleware(), fl.mw))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	type plan struct {
		chat  int64
		n     int
		group bool
	}
	var plans []plan
	for i := range 100 {
		plans = append(plans, plan{chat: rec.emu.NewUser(fmt.Sprintf("quiet%d", i)).ChatID(), n: 2 + i%2})
	}
	for i := range 3 {
		plans = append(plans, plan{chat: rec.emu.NewUser(fmt.Sprintf("busy%d", i)).ChatID(), n: 8})
	}
	for i := range 2 {
		plans = append(plans, plan{chat: rec.emu.NewGroup(fmt.Sprintf("group%d", i)).ID(), n: 6, group: true})
	}
	total := 0
	for _, p := range plans {
		total += p.n
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range plans { // one sender per chat, as a bot's handlers are
		wg.Go(func() {
			for k := range p.n {
				_, err := client.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(p.chat), Text: fmt.Sprint(k)})
				if err != nil {
					t.Errorf("chat %d message %d: %v", p.chat, k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	c := rec.emu.Counters()
	if c.FloodRejections != 0 || c.Requests429() != 0 || ctl.Stats().Floods != 0 {
		t.Logf("429s:\n%s", strings.Join(fl.log, "\n"))
		t.Fatalf("429s: emulator flood control %d, all %d, seen by the client %d; want none",
			c.FloodRejections, c.Requests429(), ctl.Stats().Floods)
	}
	sent := int64(0)
	for _, p := range plans {
		sent += c.MessagesPerChat[p.chat]
	}
	if sent != int64(total) {
		t.Fatalf("emulator stored %d messages, want %d", sent, total)
	}

	isSend := func(a arrival) bool { return a.method == "sendMessage" }
	// The limiter lets through at most 30 per second (TestLocalGlobalRate,
	// exact in fake time). At the server, scheduling and network delays
	// can bunch a few together; Telegram's bucket (and the emulator's)
	// allows a burst of 30 on top, so a few over 30 are no fault.
	all := rec.times(isSend)
	maxGlobal := maxPerWindow(all, time.Second)
	if maxGlobal > 30+jitterAllowance {
		t.Errorf("%d sends in one second at the server, want at most %d", maxGlobal, 30+jitterAllowance)
	}
	for _, p := range plans {
		at := rec.times(func(a arrival) bool { return isSend(a) && a.chat == p.chat })
		limits := []struct {
			w   time.Duration
			max int
		}{{time.Second, 3 + 1}, {5 * time.Second, 3 + 5}}
		if p.group {
			limits = append(limits, struct {
				w   time.Duration
				max int
			}{10 * time.Second, 3 + 10*20/60})
		}
		for _, l := range limits {
			if got := maxPerWindow(at, l.w); got > l.max {
				t.Errorf("chat %d: %d sends within %v at the server, want at most %d", p.chat, got, l.w, l.max)
			}
		}
	}
	st := ctl.Stats()
	t.Logf("%d messages to %d chats in %v: %.1f msgs/s, no 429; at most %d sends in a second at the server; %d waits",
		total, len(plans), elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), maxGlobal, st.Waits)
	if ctl.Queued() != 0 {
		t.Fatalf("%d chat lanes left after the load", ctl.Queued())
	}
}

// TestWithoutLimiterGets429 is the control experiment: the same emulator
// answers 429s to a client that sends without the limiter.
func TestWithoutLimiterGets429(t *testing.T) {
	rec := newRecorder(t, tgtest.WithFlood(tgtest.FloodLimits{}))
	client := rec.client(t, nil)
	chat := rec.emu.NewUser("ann").ChatID()
	ctx := context.Background()
	floods := 0
	for k := range 10 {
		if _, err := client.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(chat), Text: fmt.Sprint(k)}); err != nil {
			floods++
		}
	}
	if floods == 0 || rec.emu.Counters().FloodRejections == 0 {
		t.Fatal("10 quick sends to one chat without the limiter got no 429: the emulator's flood control is off")
	}
}

// BenchmarkThroughput measures how many messages per second a bot gets
// through the default Control to many chats (the global limit binds),
// against the emulator with flood control on, and fails on any 429. Run
// with a fixed count: go test -run '^$' -bench Throughput -benchtime 300x ./limit/
func BenchmarkThroughput(b *testing.B) {
	rec := newRecorder(b, tgtest.WithFlood(tgtest.FloodLimits{}))
	ctl := opterrtest.Must(New())
	client := rec.client(b, ctl)
	chats := make([]int64, 2000)
	for i := range chats {
		chats[i] = rec.emu.NewUser(fmt.Sprintf("u%d", i)).ChatID()
	}
	var next atomic.Int64
	ctx := context.Background()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			chat := chats[int(next.Add(1))%len(chats)]
			if _, err := client.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(chat), Text: "x"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if n := rec.emu.Counters().FloodRejections; n != 0 {
		b.Fatalf("%d 429s", n)
	}
}
