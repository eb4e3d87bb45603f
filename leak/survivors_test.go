package leak

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
	"github.com/tidygram/tidygram/internal/wait"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// handlerLabels are the labels tidygram gives a handler run.
func handlerLabels(bot, component, handler string, update int64) pprof.LabelSet {
	return pprof.Labels(LabelBot, bot, LabelComponent, component, LabelHandler, handler,
		LabelUpdateID, fmt.Sprint(update), LabelChatID, "1001")
}

// runHandler runs fn as tidygram runs a handler: on its own goroutine,
// inside pprof.Do with the handler labels, and returns when fn returns.
func runHandler(bot, component, handler string, update int64, fn func(ctx context.Context)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pprof.Do(context.Background(), handlerLabels(bot, component, handler, update), fn)
	}()
	<-done
}

// startHandler starts a handler that runs until the returned function is
// called (which waits for it to return).
func startHandler(bot, handler string, update int64) (stop func()) {
	release, done := make(chan struct{}), make(chan struct{})
	var started sync.WaitGroup
	started.Add(1)
	go func() {
		defer close(done)
		pprof.Do(context.Background(), handlerLabels(bot, "handler", handler, update), func(context.Context) {
			started.Done()
			<-release
		})
	}()
	started.Wait()
	return func() { close(release); <-done }
}

// plantLeak starts, from the calling handler, a goroutine that waits on
// release: the creation site the report must name.
func plantLeak(release chan struct{}, started *sync.WaitGroup) {
	started.Add(1)
	go func() {
		started.Done()
		<-release
	}()
}

// leakFrom runs a handler of update that leaks one goroutine, and returns
// the function that ends it (waiting until it is gone).
func leakFrom(t *testing.T, bot, handler string, update int64) (end func()) {
	t.Helper()
	release := make(chan struct{})
	var started sync.WaitGroup
	runHandler(bot, "handler", handler, update, func(context.Context) { plantLeak(release, &started) })
	started.Wait()
	var once sync.Once
	end = func() { once.Do(func() { close(release); waitGone(t, bot, update) }) }
	t.Cleanup(end)
	return end
}

// waitGone waits (up to 10 s) until no goroutine of bot labelled with
// update is left in the goroutine profile.
func waitGone(t *testing.T, bot string, update int64) {
	t.Helper()
	want := fmt.Sprint(update)
	wait.Until(t, 10*time.Second, fmt.Sprintf("goroutines of bot %s update %d gone", bot, update), func() bool {
		gs, err := snapshotLabelled(LabelBot, bot)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			if g.Labels[LabelUpdateID] == want {
				return false
			}
		}
		return true
	})
}

// synthetic returns a profile with one goroutine labelled with each of ids.
func synthetic(bot string, ids ...int64) []Group {
	gs := make([]Group, 0, len(ids))
	for _, id := range ids {
		gs = append(gs, Group{Count: 1, Stack: []Frame{{Func: "main.f"}}, Labels: map[string]string{
			LabelBot: bot, LabelComponent: "handler", LabelHandler: "/h", LabelUpdateID: fmt.Sprint(id), LabelChatID: "7"}})
	}
	return gs
}

func TestSurvivorsReportHandlerLeak(t *testing.T) {
	if err := EnableTracebackLabels(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	release, other := make(chan struct{}), make(chan struct{})
	defer close(other)
	var started sync.WaitGroup
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var reports []Report
	s := opterrtest.Must(NewSurvivors("bot1", WithClock(clock.Now), WithGrace(30*time.Second), WithReport(func(r Report) { reports = append(reports, r) })))

	// 42 leaks a goroutine; 43 calls the Bot API (its connection stays in
	// the pool, labelled with 43); 44 starts owned background work; 45 is
	// clean; 46 belongs to another bot.
	handlers := map[int64]string{42: "/start", 43: "/send", 44: "/job", 45: "/clean", 46: "/start"}
	for id := range handlers {
		s.Started(id)
	}
	runHandler("bot1", "handler", "/start", 42, func(ctx context.Context) { plantLeak(release, &started) })
	runHandler("bot1", "handler", "/send", 43, func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
	runHandler("bot1", "background", "/job", 44, func(ctx context.Context) { plantLeak(other, &started) })
	runHandler("bot1", "handler", "/clean", 45, func(ctx context.Context) {})
	runHandler("bot2", "handler", "/start", 46, func(ctx context.Context) { plantLeak(other, &started) })
	started.Wait()
	for id, h := range handlers {
		s.Ended(id, h)
	}
	ended := clock.Now()

	// First seen now; reported once grace has passed since.
	if rs, err := s.CheckNow(); err != nil || len(rs) != 0 || s.Suspects() != 1 {
		t.Fatalf("first check: %v, %v, %d suspects; want no report and update 42 suspect", rs, err, s.Suspects())
	}
	clock.Add(30*time.Second - time.Nanosecond)
	if rs, err := s.CheckNow(); err != nil || len(rs) != 0 {
		t.Fatalf("before the grace period: %v, %v", rs, err)
	}
	clock.Add(time.Nanosecond)
	rs, err := s.CheckNow()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || len(reports) != 1 {
		t.Fatalf("got %d reports, want 1 (update 42): %+v", len(rs), rs)
	}
	r := rs[0]
	if r.Handler != "/start" || r.UpdateID != 42 || r.ChatID != "1001" || r.Count != 1 || r.Bot != "bot1" || !r.Ended.Equal(ended) {
		t.Errorf("report %+v", r)
	}
	g := r.Groups[0]
	if !strings.HasSuffix(g.CreatedBy.Func, "leak.plantLeak") || !strings.HasSuffix(g.CreatedBy.File, "survivors_test.go") || g.State != "chan receive" {
		t.Errorf("creation site %v, state %q; want leak.plantLeak in survivors_test.go, chan receive", g.CreatedBy, g.State)
	}
	text := r.String()
	for _, want := range []string{`handler "/start"`, "update 42", "created by github.com/tidygram/tidygram/leak.plantLeak", "update_id=42"} {
		if !strings.Contains(text, want) {
			t.Errorf("report text lacks %q:\n%s", want, text)
		}
	}
	if p := s.Pool(); p.Conns != 1 || p.Bodies != 0 {
		t.Errorf("pool of ended updates %+v, want the one connection of update 43", p)
	}
	if s.Leaked() != 1 || s.Suspects() != 1 {
		t.Errorf("leaked %d suspects %d; want 1 and 1 (kept, marked reported, while it runs)", s.Leaked(), s.Suspects())
	}
	// Reported once, however long it stays; forgotten once gone.
	s.Ended(45, "/clean") // something ended: the next check reads the profile
	clock.Add(time.Hour)
	if rs, _ := s.CheckNow(); len(rs) != 0 || s.Suspects() != 1 {
		t.Errorf("reported again: %+v (%d suspects)", rs, s.Suspects())
	}
	close(release)
	waitGone(t, "bot1", 42)
	s.Ended(45, "/clean")
	if rs, _ := s.CheckNow(); len(rs) != 0 || s.Suspects() != 0 || len(reports) != 1 {
		t.Errorf("after it ended: %+v, %d suspects, %d reports; want none, 0, 1", rs, s.Suspects(), len(reports))
	}
}

// TestSurvivorsTiming runs checks every interval on a fake clock around a
// handler of update 1 that leaks a goroutine (real, labelled) and checks
// whether and when it is reported.
func TestSurvivorsTiming(t *testing.T) {
	const (
		interval = 5 * time.Second
		ticks    = 40 // checks every interval from t0, until t0 + 40×interval
	)
	cases := []struct {
		name     string
		grace    time.Duration // default 30 s
		endAt    time.Duration // when the handler ends, from t0 (default 2 s: between two checks)
		notEnded bool          // the handler is still running (Started, never Ended)
		reported bool          // abandoned: the runtime called Reported
		endAfter time.Duration // the leaked goroutine ends this long after the handler; 0: never
		want     bool          // reported
	}{
		{name: "leak reported once after grace", want: true},
		{name: "latest report: ended just after a check, grace not a multiple of the interval",
			endAt: interval + time.Nanosecond, grace: 30*time.Second + time.Nanosecond, want: true},
		{name: "earliest report: ended just before a check", endAt: interval - time.Nanosecond, want: true},
		{name: "goroutine ends within grace", endAfter: 20 * time.Second},
		{name: "goroutine ends just before the report", endAfter: 30 * time.Second},
		{name: "handler still running", notEnded: true},
		{name: "abandoned, reported by the runtime", reported: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			grace, endAt := cmp.Or(tc.grace, 30*time.Second), cmp.Or(tc.endAt, 2*time.Second)
			bot := fmt.Sprintf("timing-%d", i)
			t0 := time.Unix(1_000_000, 0)
			clock := &fakeClock{t: t0}
			var reports []Report
			s := opterrtest.Must(NewSurvivors(bot, WithClock(clock.Now), WithGrace(grace), WithInterval(interval),
				WithReport(func(r Report) { reports = append(reports, r) })))
			s.Started(1)
			end := leakFrom(t, bot, "/leaky", 1)
			stopHandler := func() {}
			if tc.notEnded {
				// The handler's own goroutine, still running.
				stopHandler = startHandler(bot, "/leaky", 1)
			}
			if tc.reported {
				s.Reported(1)
			}
			clock.Set(t0.Add(endAt))
			if !tc.notEnded {
				s.Ended(1, "/leaky")
			}
			ended := clock.Now()
			var at time.Duration
			for k := int(endAt/interval) + 1; k <= ticks; k++ { // the checks after the handler ended
				clock.Set(t0.Add(time.Duration(k) * interval))
				if tc.endAfter > 0 && clock.Now().Sub(ended) >= tc.endAfter {
					end()
				}
				rs, err := s.CheckNow()
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) > 0 && at == 0 {
					at = clock.Now().Sub(ended)
				}
			}
			if !tc.want {
				if len(reports) != 0 {
					t.Fatalf("reported: %+v", reports)
				}
			} else {
				if len(reports) != 1 {
					t.Fatalf("%d reports, want 1: %+v", len(reports), reports)
				}
				r := reports[0]
				if r.Handler != "/leaky" || r.UpdateID != 1 || r.ChatID != "1001" || r.Count != 1 {
					t.Errorf("report %+v", r)
				}
				t.Logf("reported %v after the handler ended", at)
				if at < grace || at > grace+2*interval {
					t.Errorf("reported %v after the handler ended, want within [%v, %v]", at, grace, grace+2*interval)
				}
			}
			stopHandler()
			end()
			if !tc.notEnded {
				s.Ended(2, "/other") // something ended: the next check reads the profile
				if _, err := s.CheckNow(); err != nil || s.Suspects() != 0 {
					t.Errorf("goroutines gone: %d suspects, %v; want 0", s.Suspects(), err)
				}
			}
		})
	}
}

// TestSurvivorsMemoryBounded: updates whose goroutines end with their
// handler leave nothing behind, however many; Started and Ended allocate
// nothing after warm-up.
func TestSurvivorsMemoryBounded(t *testing.T) {
	reads := 0
	s := opterrtest.Must(NewSurvivors("mem", WithSnapshot(func() ([]Group, error) { reads++; return nil, nil }, nil)))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range int64(100_000) {
		s.Started(i)
		s.Ended(i, "/h")
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(s.running) != 0 || len(s.suspects) != 0 || s.ended != 100_000 {
		t.Fatalf("running %d suspects %d ended %d; want 0, 0, 100000", len(s.running), len(s.suspects), s.ended)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<10 {
		t.Errorf("heap grew %d B over 100,000 updates; want < 64 KiB", grown)
	}
	if _, err := s.CheckNow(); err != nil || reads != 1 || s.ended != 0 || len(s.suspects) != 0 {
		t.Fatalf("check: %d reads, %d ended, %d suspects, %v; want 1, 0, 0", reads, s.ended, len(s.suspects), err)
	}

	// With 16 handlers running at once, as 16 workers do.
	for i := range int64(16) {
		s.Started(1_000_000 + i)
	}
	id := int64(0)
	if n := testing.AllocsPerRun(10_000, func() {
		s.Started(id)
		s.Ended(id, "/h")
		id++
	}); n != 0 {
		t.Errorf("Started+Ended: %v allocs, want 0", n)
	}
	if len(s.running) != 16 {
		t.Errorf("running %d, want 16", len(s.running))
	}
	for i := range int64(16) {
		s.Ended(1_000_000+i, "/h")
	}
	if len(s.running) != 0 {
		t.Errorf("running %d, want 0", len(s.running))
	}
}

// TestSurvivorsBurstCapacityReturned: maps emptied after a burst are made
// anew, so they do not keep the burst's capacity.
func TestSurvivorsBurstCapacityReturned(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	var profile []Group
	s := opterrtest.Must(NewSurvivors("burst", WithClock(clock.Now), WithSnapshot(func() ([]Group, error) { return profile, nil }, nil), WithReport(func(Report) {})))
	ids := make([]int64, 5000)
	for i := range ids {
		ids[i] = int64(i)
		s.Started(ids[i])
	}
	runningBefore := s.running
	for _, id := range ids {
		s.Ended(id, "/h")
	}
	profile = synthetic("burst", ids...)
	s.CheckNow()
	if len(s.suspects) != 5000 || s.runPeak != 0 {
		t.Fatalf("%d suspects, running peak %d", len(s.suspects), s.runPeak)
	}
	suspectsBefore := s.suspects
	profile = nil
	s.Ended(-1, "/h")
	s.CheckNow()
	if len(s.suspects) != 0 {
		t.Fatalf("%d suspects left", len(s.suspects))
	}
	for _, m := range []struct {
		name string
		same bool
	}{
		{"running", fmt.Sprintf("%p", runningBefore) == fmt.Sprintf("%p", s.running)},
		{"suspects", fmt.Sprintf("%p", suspectsBefore) == fmt.Sprintf("%p", s.suspects)},
	} {
		if m.same {
			t.Errorf("%s map kept after emptying from a burst", m.name)
		}
	}
}

// TestSurvivorsMaxSuspects: beyond MaxSuspects, updates seen with
// survivors are counted in Dropped (at each check) and tracked once room
// is free.
func TestSurvivorsMaxSuspects(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	all := []int64{1, 2, 3, 4, 5}
	profile := synthetic("b", all...)
	s := opterrtest.Must(NewSurvivors("b", WithClock(clock.Now), WithMaxSuspects(3), WithReport(func(Report) {}),
		WithSnapshot(func() ([]Group, error) { return profile, nil }, nil)))
	for _, id := range all {
		s.Started(id)
		s.Ended(id, "/h")
	}
	reported := map[int64]int{}
	steps := []struct {
		name         string
		advance      time.Duration
		keepReported bool // the reported updates' goroutines are still there
		suspects     int
		dropped      int64
		reports      int
	}{
		{"first seen: 3 tracked, 2 dropped", 0, true, 3, 2, 0},
		{"3 reported, 2 dropped again", DefaultGrace, true, 3, 4, 3},
		{"the 3 gone: the 2 others tracked", DefaultInterval, false, 2, 4, 0},
		{"the 2 reported grace after", DefaultGrace, false, 2, 4, 2},
	}
	for _, st := range steps {
		clock.Add(st.advance)
		if !st.keepReported {
			var left []int64
			for _, id := range all {
				if reported[id] == 0 {
					left = append(left, id)
				}
			}
			profile = synthetic("b", left...)
			s.Ended(100, "/h") // something ended: the check reads the profile
		}
		rs, err := s.CheckNow()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			reported[r.UpdateID]++
		}
		if s.Suspects() != st.suspects || s.Dropped() != st.dropped || len(rs) != st.reports {
			t.Fatalf("%s: %d suspects, %d dropped, %d reports; want %d, %d, %d",
				st.name, s.Suspects(), s.Dropped(), len(rs), st.suspects, st.dropped, st.reports)
		}
	}
	for _, id := range all {
		if reported[id] != 1 {
			t.Errorf("update %d reported %d times, want once", id, reported[id])
		}
	}
	if s.Leaked() != 5 {
		t.Errorf("leaked %d, want 5", s.Leaked())
	}
}

func TestSurvivorsWithoutTracebackLabels(t *testing.T) {
	leakFrom(t, "bot3", "/h", 7)
	clock := &fakeClock{t: time.Unix(0, 0)}
	s := opterrtest.Must(NewSurvivors("bot3", WithClock(clock.Now), WithSnapshot(Snapshot, nil), WithReport(func(Report) {})))
	s.Ended(7, "/h")
	if rs, err := s.CheckNow(); err != nil || len(rs) != 0 {
		t.Fatalf("first check: %v, %v", rs, err)
	}
	clock.Add(DefaultGrace)
	rs, err := s.CheckNow()
	if err != nil || len(rs) != 1 {
		t.Fatalf("reports %v, %v", rs, err)
	}
	// From debug=1 only: no creation site, but the started function.
	if o := rs[0].Groups[0].Origin(); !strings.HasPrefix(o.Func, "github.com/tidygram/tidygram/leak.plantLeak.func") {
		t.Errorf("origin %v", o)
	}
}

func TestSurvivorsSnapshotErrorRetries(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	fail := true
	s := opterrtest.Must(NewSurvivors("b", WithClock(clock.Now), WithSnapshot(func() ([]Group, error) {
		if fail {
			return nil, io.ErrUnexpectedEOF
		}
		return []Group{{Count: 2, Labels: map[string]string{LabelBot: "b", LabelUpdateID: "5", LabelComponent: "handler", LabelHandler: "/h"}, Stack: []Frame{{Func: "main.f"}}}}, nil
	}, nil), WithReport(func(Report) {})))
	s.Started(5)
	s.Ended(5, "/h")
	// Failed first read: the ended handler is kept for the next check.
	if _, err := s.CheckNow(); err == nil || s.ended != 1 || s.Suspects() != 0 {
		t.Fatalf("err %v, ended %d, suspects %d; want the error, 1, 0", err, s.ended, s.Suspects())
	}
	fail = false
	if _, err := s.CheckNow(); err != nil || s.Suspects() != 1 || s.ended != 0 {
		t.Fatalf("retry: err %v, suspects %d, ended %d; want nil, 1, 0", err, s.Suspects(), s.ended)
	}
	// Failed read when the report is due: reported at the next one.
	clock.Add(DefaultGrace)
	fail = true
	if rs, err := s.CheckNow(); err == nil || len(rs) != 0 || !strings.Contains(err.Error(), io.ErrUnexpectedEOF.Error()) {
		t.Fatalf("due check: %v, %v; want the error and no report", rs, err)
	}
	fail = false
	rs, err := s.CheckNow()
	if err != nil || len(rs) != 1 || rs[0].Count != 2 || rs[0].Handler != "/h" {
		t.Fatalf("after retry: %+v, %v", rs, err)
	}
}

// TestSurvivorsReadsOnlyWhenNeeded: no profile is read while no handler
// ended and no suspect is due: an idle bot costs nothing.
func TestSurvivorsReadsOnlyWhenNeeded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	reads := 0
	var profile []Group
	s := opterrtest.Must(NewSurvivors("b", WithClock(clock.Now), WithReport(func(Report) {}),
		WithSnapshot(func() ([]Group, error) { reads++; return profile, nil }, nil)))
	steps := []struct {
		name      string
		do        func()
		wantReads int
	}{
		{"new, idle", func() {}, 0},
		{"a handler running", func() { s.Started(1) }, 0},
		{"idle an hour", func() { clock.Add(time.Hour) }, 0},
		{"it ended, leaving a goroutine", func() { profile = synthetic("b", 1); s.Ended(1, "/h") }, 1},
		{"nothing ended, suspect not due", func() { clock.Add(DefaultGrace - time.Second) }, 1},
		{"suspect due", func() { clock.Add(time.Second) }, 2},
		{"reported, idle an hour", func() { clock.Add(time.Hour) }, 2},
		{"another ended", func() { s.Started(2); s.Ended(2, "/h") }, 3},
		{"idle again", func() { clock.Add(time.Hour) }, 3},
	}
	for _, st := range steps {
		st.do()
		for range 3 {
			if _, err := s.CheckNow(); err != nil {
				t.Fatal(err)
			}
		}
		if reads != st.wantReads {
			t.Fatalf("%s: %d profile reads, want %d", st.name, reads, st.wantReads)
		}
	}
}

// TestUpdateReport: the goroutines of a running update, handler included.
func TestUpdateReport(t *testing.T) {
	defer startHandler("upd", "/slow", 9)()
	leakFrom(t, "upd", "/slow", 9)
	r, err := UpdateReport("upd", 9, "/slow")
	if err != nil || r.Count != 2 || r.Handler != "/slow" || r.ChatID != "1001" || r.UpdateID != 9 || r.Bot != "upd" {
		t.Fatalf("report %+v, %v; want 2 goroutines of /slow, update 9, chat 1001", r, err)
	}
	if r, err := UpdateReport("upd", 10, "/none"); err != nil || r.Count != 0 || r.Handler != "/none" {
		t.Fatalf("no goroutines: %+v, %v", r, err)
	}
}

// TestSurvivorsConcurrent: Started, Ended, Reported and checks from many
// goroutines at once (for -race); every handler's goroutines end with it,
// so nothing is left tracked.
func TestSurvivorsConcurrent(t *testing.T) {
	s := opterrtest.Must(NewSurvivors("conc", WithGrace(0), WithReport(func(r Report) { t.Errorf("reported %+v", r) })))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Go(func() {
			for range 500 {
				id := next.Add(1)
				s.Started(id)
				pprof.Do(context.Background(), handlerLabels("conc", "handler", "/h", id), func(context.Context) {
					runtime.Gosched()
				})
				s.Ended(id, "/h")
			}
		})
	}
	stop := make(chan struct{})
	var checks sync.WaitGroup
	checks.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.CheckNow(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	checks.Wait()
	s.Ended(0, "/h")
	if _, err := s.CheckNow(); err != nil || s.Suspects() != 0 || len(s.running) != 0 {
		t.Errorf("suspects %d running %d, %v; want 0 and 0", s.Suspects(), len(s.running), err)
	}
}

func TestSurvivorsRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	checks := make(chan struct{}, 1)
	s := opterrtest.Must(NewSurvivors("b", WithInterval(time.Millisecond), WithGrace(0), WithSnapshot(func() ([]Group, error) {
		select {
		case checks <- struct{}{}:
		default:
		}
		return nil, nil
	}, nil)))
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	s.Ended(1, "/h")
	<-checks
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run returned %v", err)
	}
}

func TestSurvivorsIntervalDefault(t *testing.T) {
	for _, tc := range []struct {
		opts []SurvivorOption
		want time.Duration
	}{
		{nil, DefaultInterval},
		{[]SurvivorOption{WithGrace(2 * time.Second)}, 2 * time.Second},
		{[]SurvivorOption{WithGrace(0)}, time.Millisecond},
		{[]SurvivorOption{WithGrace(time.Second), WithInterval(3 * time.Second)}, 3 * time.Second},
	} {
		if got := opterrtest.Must(NewSurvivors("b", tc.opts...)).interval; got != tc.want {
			t.Errorf("interval %v, want %v", got, tc.want)
		}
	}
}

// Start checks on timers with no goroutine of its own between checks: a
// planted leak is reported with real time (grace and interval short), the
// checks run under the labels of Start's context, and stop returns with
// no check running and none to come.
func TestSurvivorsStartOnTimers(t *testing.T) {
	reported := make(chan Report, 4)
	var checkerLabel atomic.Value
	s := opterrtest.Must(NewSurvivors("timers", WithGrace(10*time.Millisecond), WithInterval(5*time.Millisecond), WithReport(func(r Report) {
		// The report runs on the check's goroutine: it is the one
		// goroutine that carries the role label.
		if groups, err := Snapshot(); err == nil {
			for _, g := range groups {
				if v := g.Labels["role"]; v != "" {
					checkerLabel.Store(v)
				}
			}
		}
		reported <- r
	})))
	before := runtime.NumGoroutine()
	stop := s.Start(pprof.WithLabels(context.Background(), pprof.Labels("role", "checker")))
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("Start left %d goroutines running between checks", n-before)
	}
	release := make(chan struct{})
	var started sync.WaitGroup
	s.Started(41)
	runHandler("timers", "handler", "/leaky", 41, func(context.Context) { plantLeak(release, &started) })
	started.Wait()
	s.Ended(41, "/leaky")
	select {
	case r := <-reported:
		if r.UpdateID != 41 || r.Handler != "/leaky" || r.Count != 1 {
			t.Errorf("report %+v, want update 41 of /leaky with 1 goroutine", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no report 20 s after the leak, with a 10 ms grace")
	}
	stop()
	close(release)
	if v, _ := checkerLabel.Load().(string); v != "checker" {
		t.Errorf("the check ran with role label %q, want the labels of Start's context", v)
	}
}
