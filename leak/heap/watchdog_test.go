package heap_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/heap"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// A real bot, in process, whose handler keeps every photo: the watchdog
// plugged in with tidygram.WithWatchdog raises a heap alarm naming the
// handler's route and the site, from this process's heap profiles. The
// watchdog's clock is made up (30 s a sample) and each sample first has
// the bot handle two more photos, so the growth per sample is the same
// whatever the machine's speed.
func TestWatchdogNamesTheLeakingHandler(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	var users []*tgtest.SimUser
	for i := range 16 { // tidygram paces replies to 1/s per chat
		users = append(users, srv.NewUser(fmt.Sprintf("user%d", i)))
	}
	var mu sync.Mutex
	var kept [][]byte
	save := func(c *tidygram.Context) error {
		p := c.Update.Message.Photo[len(c.Update.Message.Photo)-1]
		f, err := c.Client.GetFile(c, &tg.GetFileParams{FileID: p.FileID})
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if _, err := c.Client.Download(c, f.FilePath, &buf); err != nil {
			return err
		}
		mu.Lock()
		kept = append(kept, buf.Bytes())
		mu.Unlock()
		return c.Reply("kept")
	}
	var sent atomic.Int64
	var alarmed atomic.Bool // then the sampler sends no more: the bot is being stopped
	sample := func(now time.Time) leak.Sample {
		for range 2 {
			if alarmed.Load() {
				break
			}
			u := users[int(sent.Add(1))%len(users)]
			if _, err := u.SendPhoto(make([]byte, 128<<10), ""); err != nil {
				t.Error(err)
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := u.WaitReply(ctx)
			cancel()
			if err != nil {
				t.Error(err)
				break
			}
		}
		runtime.GC() // the live heap as of now
		s := leak.ReadSample(now)
		s.Goroutines, s.FDs = -1, -1
		return s
	}
	start, n := time.Unix(0, 0), 0
	clock := func() time.Time { n++; return start.Add(time.Duration(n) * 30 * time.Second) }
	alarms := make(chan leak.Alarm, 16)
	bot, err := tidygram.New(srv.Token(), tidygram.WithBaseURL(srv.URL()),
		tidygram.WithWatchdog(
			leak.WithHeapExplainer(heap.Explainer()),           // the bot names the route
			leak.WithLimits(leak.Limits{HeapBytes: 128 << 10}), // per minute; the bot keeps 512 KiB a minute
			leak.WithSampler(sample), leak.WithWatchClock(clock), leak.WithSampleInterval(time.Millisecond),
			leak.WithOwners(nil),
			leak.WithAlarm(func(a leak.Alarm) {
				alarmed.Store(true)
				select {
				case alarms <- a:
				default:
				}
			})))
	if err != nil {
		t.Fatal(err)
	}
	bot.Handle("photo", func(u *tg.Update) bool { return u.Message != nil && len(u.Message.Photo) > 0 }, save)
	run := bottest.Run(t, bot)
	var a leak.Alarm
	select {
	case a = <-alarms:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no alarm after %d photos", sent.Load())
	}
	if err := run.Stop(); err != nil {
		t.Error(err)
	}
	t.Logf("after %d photos: %s", sent.Load(), a)
	if a.Resource != "heap_live_bytes" || len(a.HeapSites) == 0 {
		t.Fatalf("alarm %+v", a)
	}
	s := a.HeapSites[0]
	if s.Route != "photo" || s.Verdict != "leak" || s.Pattern != "read-whole" || s.Growth < 1<<20 {
		t.Errorf("top site %+v", s)
	}
}
