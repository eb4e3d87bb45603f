package tidygram_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/tgtest"
)

// preload pushes n text updates spread over 100 chats.
func preload(b *testing.B, srv *tgtest.Server, n int) {
	for i := range n {
		pushText(b, srv, int64(1+i%100), "hello "+strconv.Itoa(i))
	}
}

// BenchmarkEndToEnd polls b.N text updates from the in-process emulator and
// answers each with sendMessage, through the whole runtime.
func BenchmarkEndToEnd(b *testing.B) {
	srv := emulator(b, tgtest.WithMaxPending(b.N+10), tgtest.WithHistoryLimit(1))
	preload(b, srv, b.N)
	var done atomic.Int64
	all := make(chan struct{})
	n := int64(b.N)
	bot := newBot(b, srv, tidygram.WithoutLeakCheck())
	bot.OnText(func(c *tidygram.Context) error {
		err := c.Send("echo")
		if done.Add(1) == n {
			close(all)
		}
		return err
	})
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	r := start(b, bot)
	<-all
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/update")
	r.stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	c := srv.Counters()
	b.ReportMetric(float64(c.UpdatesRedelivered)/float64(b.N), "refetched/update")
	b.ReportMetric(float64(c.ConnsAccepted), "conns")
}

// BenchmarkFloor does the same work with a minimal hand-written loop: one
// long poll, a fixed worker pool, a keep-alive pool sized to it, minimal
// structs. It is the yardstick for BenchmarkEndToEnd.
func BenchmarkFloor(b *testing.B) {
	srv := emulator(b, tgtest.WithMaxPending(b.N+10), tgtest.WithHistoryLimit(1))
	preload(b, srv, b.N)
	const workers = 16
	tr := &http.Transport{MaxIdleConnsPerHost: workers + 2}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	base := srv.URL() + "/bot" + srv.Token() + "/"
	type update struct {
		UpdateID int64 `json:"update_id"`
		Message  struct {
			Chat struct {
				ID int64 `json:"id"`
			} `json:"chat"`
			Text string `json:"text"`
		} `json:"message"`
	}
	jobs := make(chan int64, 100)
	var wg sync.WaitGroup
	var done atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			for chat := range jobs {
				buf.Reset()
				buf.WriteString(`{"chat_id":`)
				buf.WriteString(strconv.FormatInt(chat, 10))
				buf.WriteString(`,"text":"echo"}`)
				resp, err := hc.Post(base+"sendMessage", "application/json", &buf)
				if err != nil {
					b.Error(err)
					continue
				}
				io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				done.Add(1)
			}
		})
	}
	offset := int64(0)
	for got := 0; got < b.N; {
		resp, err := hc.Get(base + "getUpdates?timeout=10&offset=" + strconv.FormatInt(offset, 10))
		if err != nil {
			b.Fatal(err)
		}
		var env struct {
			Result []update `json:"result"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&env)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range env.Result {
			jobs <- u.Message.Chat.ID
			offset = u.UpdateID + 1
			got++
		}
	}
	close(jobs)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/update")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

// cpuTime returns the CPU time (user + system) the process has used: the
// bot and the emulator together, the same overhead in both benchmarks.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
