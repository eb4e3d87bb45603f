package leak

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
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

// runHandler runs fn as tidygram runs a handler: on its own goroutine,
// inside pprof.Do with the handler labels, and returns when fn returns.
func runHandler(bot, component, handler string, update int64, fn func(ctx context.Context)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pprof.Do(context.Background(), pprof.Labels(LabelBot, bot, LabelComponent, component, LabelHandler, handler,
			LabelUpdateID, fmt.Sprint(update), LabelChatID, "1001"), fn)
	}()
	<-done
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

func TestSurvivorsReportHandlerLeak(t *testing.T) {
	if err := EnableTracebackLabels(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	release := make(chan struct{})
	defer close(release)
	var started sync.WaitGroup
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var reports []Report
	s := NewSurvivors("bot1", WithClock(clock.Now), WithGrace(30*time.Second), WithReport(func(r Report) { reports = append(reports, r) }))

	// 42 leaks a goroutine; 43 calls the Bot API (its connection stays in
	// the pool, labelled with 43); 44 starts owned background work; 45 is
	// clean; 46 belongs to another bot.
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
	runHandler("bot1", "background", "/job", 44, func(ctx context.Context) { plantLeak(release, &started) })
	runHandler("bot1", "handler", "/clean", 45, func(ctx context.Context) {})
	runHandler("bot2", "handler", "/start", 46, func(ctx context.Context) { plantLeak(release, &started) })
	started.Wait()
	for id, h := range map[int64]string{42: "/start", 43: "/send", 44: "/job", 45: "/clean", 46: "/start"} {
		s.Ended(id, h)
	}

	if rs, err := s.CheckNow(); err != nil || len(rs) != 0 {
		t.Fatalf("before the grace period: %v, %v", rs, err)
	}
	clock.Add(30 * time.Second)
	rs, err := s.CheckNow()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || len(reports) != 1 {
		t.Fatalf("got %d reports, want 1 (update 42): %+v", len(rs), rs)
	}
	r := rs[0]
	if r.Handler != "/start" || r.UpdateID != 42 || r.ChatID != "1001" || r.Count != 1 || r.Bot != "bot1" {
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
		t.Errorf("pool of checked updates %+v, want the one connection of update 43", p)
	}
	if s.Leaked() != 1 || s.Pending() != 0 {
		t.Errorf("leaked %d pending %d", s.Leaked(), s.Pending())
	}
	// Reported once: the update is forgotten.
	clock.Add(time.Hour)
	if rs, _ := s.CheckNow(); len(rs) != 0 {
		t.Errorf("reported again: %+v", rs)
	}
}

func TestSurvivorsWithoutTracebackLabels(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var started sync.WaitGroup
	runHandler("bot3", "handler", "/h", 7, func(ctx context.Context) { plantLeak(release, &started) })
	started.Wait()
	clock := &fakeClock{t: time.Unix(0, 0)}
	s := NewSurvivors("bot3", WithClock(clock.Now), WithSnapshot(Snapshot, nil), WithReport(func(Report) {}))
	s.Ended(7, "/h")
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

func TestSurvivorsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	snaps := 0
	s := NewSurvivors("b", WithClock(clock.Now), WithMaxPending(100), WithSnapshot(func() ([]Group, error) { snaps++; return nil, nil }, nil))
	for i := range int64(250) {
		s.Ended(i, "/h")
	}
	if s.Pending() != 100 || s.Dropped() != 150 {
		t.Errorf("pending %d dropped %d, want 100 and 150", s.Pending(), s.Dropped())
	}
	if _, err := s.CheckNow(); err != nil || snaps != 0 {
		t.Errorf("checked before any grace ended: %d snapshots, %v", snaps, err)
	}
	clock.Add(DefaultGrace)
	if _, err := s.CheckNow(); err != nil || snaps != 1 || s.Pending() != 0 {
		t.Errorf("%d snapshots, %d pending, %v; want 1 and 0", snaps, s.Pending(), err)
	}
}

func TestSurvivorsSnapshotErrorRetries(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	fail := true
	s := NewSurvivors("b", WithClock(clock.Now), WithSnapshot(func() ([]Group, error) {
		if fail {
			return nil, io.ErrUnexpectedEOF
		}
		return []Group{{Count: 2, Labels: map[string]string{LabelBot: "b", LabelUpdateID: "5", LabelComponent: "handler"}, Stack: []Frame{{Func: "main.f"}}}}, nil
	}, nil), WithReport(func(Report) {}))
	s.Ended(5, "/h")
	clock.Add(DefaultGrace)
	if _, err := s.CheckNow(); err == nil || s.Pending() != 1 {
		t.Fatalf("err %v pending %d; want the error and the update kept", err, s.Pending())
	}
	fail = false
	rs, err := s.CheckNow()
	if err != nil || len(rs) != 1 || rs[0].Count != 2 {
		t.Fatalf("after retry: %+v, %v", rs, err)
	}
}

func TestSurvivorsRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	checks := make(chan struct{}, 1)
	s := NewSurvivors("b", WithInterval(time.Millisecond), WithGrace(0), WithSnapshot(func() ([]Group, error) {
		select {
		case checks <- struct{}{}:
		default:
		}
		return nil, nil
	}, nil))
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	s.Ended(1, "/h")
	<-checks
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run returned %v", err)
	}
}
