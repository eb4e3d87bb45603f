package tidygram_test

import (
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/spool/spooltest"
	"github.com/tidygram/tidygram/tgtest"
)

// BenchmarkFloodLimitedChats: 20 users send 51 texts each at once; the bot
// echoes every one with the default flood control, against the emulator's
// Telegram flood limits (1 message/s per chat after a burst of 3). No chat
// may wait for another: the last reply should come close to the per-chat
// floor, (51-3)/1 s = 48 s. It reports the wall time, its ratio to the
// floor and the 429s seen. One run takes about a minute: run it with
// -bench FloodLimitedChats -benchtime 1x.
func BenchmarkFloodLimitedChats(b *testing.B) {
	for _, mode := range []struct {
		name   string
		bursty bool
		opts   []tidygram.Option
	}{
		{"interleaved/at-least-once", false, nil},
		{"interleaved/at-most-once", false, []tidygram.Option{tidygram.WithAtMostOnce()}},
		// Each user's 51 texts reach Telegram before the next user's: the
		// worst order for Telegram's 100-update window (see the README).
		{"one-user-after-another/at-least-once", true, nil},
		{"one-user-after-another/at-most-once", true, []tidygram.Option{tidygram.WithAtMostOnce()}},
		// With a spool the window no longer binds: updates are confirmed
		// once spooled (here in memory: the seam, not the storage, is
		// measured; the JetStream spool's figure is in its module).
		{"one-user-after-another/spool", true, nil},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for range b.N {
				opts := mode.opts
				if strings.HasSuffix(mode.name, "/spool") {
					opts = []tidygram.Option{tidygram.WithSpool(spooltest.New())}
				}
				floodRun(b, mode.bursty, opts)
			}
		})
	}
}

func floodRun(b *testing.B, bursty bool, opts []tidygram.Option) {
	const users, texts, burst = 20, 51, 3
	floor := time.Duration(texts-burst) * time.Second
	srv := emulator(b)
	srv.SetFlood(true, tgtest.FloodLimits{})
	bot := newBot(b, srv, append([]tidygram.Option{tidygram.WithFloodControl(nil), tidygram.WithoutLeakCheck()}, opts...)...)
	bot.OnText(func(c *tidygram.Context) error {
		return c.Reply(c.Text())
	})
	r := start(b, bot)
	begin := time.Now()
	// Users type at once: their messages interleave; or, bursty, one
	// user's whole burst comes before the next user's.
	for n := range users * texts {
		u, i := n%users, n/users
		if bursty {
			u, i = n/texts, n%texts
		}
		pushText(b, srv, int64(1000+u), strconv.Itoa(i))
	}
	total := int64(users * texts)
	if !wait.For(20*floor-time.Since(begin), func() bool { return sent(srv) >= total }) {
		f, _ := os.Create("/tmp/flood-goroutines.txt")
		pprof.Lookup("goroutine").WriteTo(f, 1)
		f.Close()
		c := srv.Counters()
		b.Fatalf("only %d of %d replies after %v; delivered %d redelivered %d confirmed %d pending %d requests %v", sent(srv), total, time.Since(begin),
			c.UpdatesDelivered, c.UpdatesRedelivered, c.UpdatesConfirmed, c.UpdatesPending, c.Requests)
	}
	took := time.Since(begin)
	if err := r.stop(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(took.Seconds(), "s-to-last-reply")
	b.ReportMetric(took.Seconds()/floor.Seconds(), "x-per-chat-floor")
	b.ReportMetric(float64(srv.Counters().FloodRejections), "429s")
}

func sent(srv *tgtest.Server) int64 {
	var n int64
	for _, c := range srv.Counters().MessagesPerChat {
		n += c
	}
	return n
}
