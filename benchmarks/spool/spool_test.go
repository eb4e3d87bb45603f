// Package spool_test measures what the embedded JetStream spool costs a
// tidygram bot: the same bot, polling the same updates from the emulator
// and answering each with one sendMessage, with and without
// tidygram.WithSpool(jetstream.Open(jetstream.Embedded(dir))).
//
//	go test -run '^$' -bench Spool -benchtime 1x ./spool
//
// Each round runs every variant once, in turn (the variant that starts
// rotates), with a fresh emulator, spool directory and bot; the figures
// are the medians over the rounds. TIDYGRAM_BENCH_UPDATES (default
// 10,000) and TIDYGRAM_BENCH_ROUNDS (default 5) change the load;
// TIDYGRAM_BENCH_ONLY=spool (a variant's key) runs one variant, e.g. for
// a CPU profile (-cpuprofile).
package spool_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/jetstream"
	"github.com/tidygram/tidygram/tgtest"
	"go.uber.org/goleak"
)

// chats the updates are spread over.
const chats = 100

// variant is one configuration of the bot.
type variant struct {
	name, key string // key prefixes its metrics
	// spool opens the variant's spool in dir (nil: no spool).
	spool func(ctx context.Context, dir string) (*jetstream.Spool, error)
}

// variants are the configurations compared, the spool-less one first.
func variants() []variant {
	return []variant{
		{name: "no spool", key: "none"},
		{name: "embedded spool (default sync)", key: "spool", spool: func(ctx context.Context, dir string) (*jetstream.Spool, error) {
			return jetstream.Open(ctx, jetstream.Embedded(dir))
		}},
		{name: "embedded spool, SyncAlways", key: "spool-syncalways", spool: func(ctx context.Context, dir string) (*jetstream.Spool, error) {
			return jetstream.Open(ctx, jetstream.Embedded(dir), jetstream.SyncAlways())
		}},
	}
}

// result is one round of one variant.
type result struct {
	perSecond float64 // updates answered per second
	cpuPer    float64 // process CPU µs per update: bot, emulator and (with a spool) the embedded server
}

// BenchmarkSpool reports, per variant, the median updates/s and CPU
// µs/update over the rounds, and the spool's throughput as a share of the
// spool-less one.
func BenchmarkSpool(b *testing.B) {
	updates, rounds := envInt(b, "TIDYGRAM_BENCH_UPDATES", 10_000), envInt(b, "TIDYGRAM_BENCH_ROUNDS", 5)
	for b.Loop() {
		res := compare(b, updates, rounds)
		base := median(res[0], func(r result) float64 { return r.perSecond })
		for i, v := range variants() {
			if len(res[i]) == 0 {
				continue
			}
			ps := median(res[i], func(r result) float64 { return r.perSecond })
			cpu := median(res[i], func(r result) float64 { return r.cpuPer })
			b.ReportMetric(ps, v.key+":updates/s")
			b.ReportMetric(cpu, v.key+":cpu-µs/update")
			if i > 0 && base > 0 {
				b.ReportMetric(ps/base, v.key+":x-no-spool")
			}
			b.Logf("%-28s %8.0f updates/s  %7.1f CPU µs/update  (rounds: %v)", v.name, ps, cpu, res[i])
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSpoolCompare runs the comparison with tiny counts: every variant
// answers every update (the benchmark keeps working).
func TestSpoolCompare(t *testing.T) {
	res := compare(t, 200, 1)
	for i, v := range variants() {
		if len(res[i]) != 1 || res[i][0].perSecond <= 0 {
			t.Errorf("%s: %v", v.name, res[i])
		}
	}
}

// compare runs rounds × every variant and returns the results by variant.
func compare(tb testing.TB, updates, rounds int) [][]result {
	vs := variants()
	only := os.Getenv("TIDYGRAM_BENCH_ONLY")
	res := make([][]result, len(vs))
	for r := range rounds {
		for k := range vs {
			i := (r + k) % len(vs)
			if only == "" || only == vs[i].key {
				res[i] = append(res[i], run(tb, vs[i], updates))
			}
		}
	}
	return res
}

// run answers updates text updates with one bot of variant v and
// measures from the bot's start to the last answer.
func run(tb testing.TB, v variant, updates int) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv := tgtest.NewServer(tgtest.WithTB(tb), tgtest.WithMaxPending(updates+10), tgtest.WithHistoryLimit(1))
	defer srv.Close()
	for i := range updates {
		chat := int64(1 + i%chats)
		raw := fmt.Sprintf(`{"message":{"message_id":%d,"date":%d,"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"u"},"text":"hello %d"}}`,
			i+1, time.Now().Unix(), chat, chat, i)
		if _, err := srv.PushRaw([]byte(raw)); err != nil {
			tb.Fatal(err)
		}
	}
	opts := []tidygram.Option{
		tidygram.WithBaseURL(srv.URL()),
		// As in cmd/compare: the emulator enforces no limit here, and
		// the default limiter would measure Telegram's 30 messages/s.
		tidygram.WithoutFloodControl(),
		tidygram.WithPollTimeout(time.Second),
		tidygram.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))),
	}
	if v.spool != nil {
		sp, err := v.spool(ctx, tb.TempDir())
		if err != nil {
			tb.Fatalf("%s: %v", v.name, err)
		}
		defer sp.Close()
		opts = append(opts, tidygram.WithSpool(sp))
	}
	bot, err := tidygram.New(srv.Token(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	// Measured from the first answer to the last: the start (getMe,
	// the spool's poll lease) is not part of the steady state.
	var done atomic.Int64
	var start time.Time
	var cpu0 time.Duration
	all := make(chan struct{})
	bot.OnText(func(c *tidygram.Context) error {
		err := c.Send("echo")
		switch done.Add(1) {
		case 1:
			start, cpu0 = time.Now(), cpuTime()
		case int64(updates):
			close(all)
		}
		return err
	})
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- bot.Run(runCtx) }()
	select {
	case <-all:
	case err := <-runErr:
		stop()
		tb.Fatalf("%s: Run returned before the last answer: %v", v.name, err)
	case <-ctx.Done():
		stop()
		<-runErr
		tb.Fatalf("%s: %d of %d answered: %v", v.name, done.Load(), updates, ctx.Err())
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	stop()
	if err := <-runErr; err != nil {
		tb.Fatalf("%s: Run: %v", v.name, err)
	}
	return result{
		perSecond: float64(updates-1) / elapsed.Seconds(),
		cpuPer:    float64(cpu.Microseconds()) / float64(updates-1),
	}
}

func (r result) String() string { return fmt.Sprintf("%.0f/s %.1fµs", r.perSecond, r.cpuPer) }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
