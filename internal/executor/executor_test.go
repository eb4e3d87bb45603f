package executor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/dispatch"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/tg"
)

// recorder observes handled updates.
type recorder struct {
	observe.Nop
	routes []string
	errs   []error
}

func (r *recorder) UpdateHandled(_ *tg.Update, route string, _ time.Duration, err error) {
	r.routes = append(r.routes, route)
	r.errs = append(r.errs, err)
}

func text(s string) *tg.Update {
	return &tg.Update{UpdateID: 1, Message: &tg.Message{Text: s, Chat: tg.Chat{ID: 5, Type: "private"}}}
}

// TestTaskSettlesOnce: every way an update ends calls done exactly once,
// with the right verdict, and reports to the observer.
func TestTaskSettlesOnce(t *testing.T) {
	rt := router.New()
	rt.Handle("panics", router.TextEquals("panic"), func(*router.Context) error { panic("boom") })
	rt.Handle("fails", router.TextEquals("fail"), func(*router.Context) error { return errors.New("no") })
	rt.OnCommand("start", func(*router.Context) error { return nil })
	rt.OnCallback("b", func(*router.Context) error { return nil })
	rt.Freeze()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		u         *tg.Update
		ctx       context.Context
		drop      bool
		wantRoute string
		handled   bool
		errType   any
	}{
		{"ok", text("/start"), context.Background(), false, "/start", true, nil},
		{"error", text("fail"), context.Background(), false, "fails", true, errors.New("")},
		{"panic", text("panic"), context.Background(), false, "panics", true, &PanicError{}},
		{"command for another bot", text("/start@otherbot"), context.Background(), false, "", true, nil},
		{"no route", text("hello"), context.Background(), false, "", true, nil},
		{"cut off by the drain", text("/start"), cancelled, false, "/start", false, nil},
		{"dropped", text("/start"), nil, true, "", false, nil},
		{"button under a message for another bot", &tg.Update{UpdateID: 2, CallbackQuery: &tg.CallbackQuery{ID: "q", Data: "b",
			Message: &tg.Message{Text: "/start@otherbot", Chat: tg.Chat{ID: 5, Type: "private"}, Date: 1}}}, context.Background(), false, "callback:b", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			e := New(context.Background(), Config{Owner: "test", Router: rt, HandlerTimeout: time.Second, Observer: rec,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Me: func() string { return "thisbot" }})
			defer e.CloseBackground(time.Now())
			var calls []bool
			task := e.Task(tt.u, false, func(h bool) { calls = append(calls, h) })
			if tt.drop {
				task.Drop()
			} else {
				task.Run(tt.ctx)
			}
			task.Drop()                               // late: must not settle again
			task.Abandon(context.Background(), false) // late: must not settle again
			if len(calls) != 1 || calls[0] != tt.handled {
				t.Fatalf("done calls %v, want exactly [%v]", calls, tt.handled)
			}
			if tt.drop {
				return
			}
			if len(rec.routes) != 1 || rec.routes[0] != tt.wantRoute {
				t.Fatalf("observer saw routes %q, want [%q]", rec.routes, tt.wantRoute)
			}
			switch want := tt.errType.(type) {
			case nil:
				if rec.errs[0] != nil {
					t.Fatalf("err %v, want nil", rec.errs[0])
				}
			case *PanicError:
				if !errors.As(rec.errs[0], &want) {
					t.Fatalf("err %v, want a *PanicError", rec.errs[0])
				}
			default:
				if rec.errs[0] == nil {
					t.Fatal("err nil, want the handler's error")
				}
			}
		})
	}
}

// benchExecutor returns an Executor whose router takes text with a handler
// that does nothing, with the leak check on, as in a bot.
func benchExecutor(b *testing.B) *Executor {
	rt := router.New()
	rt.OnText(func(*router.Context) error { return nil })
	rt.Freeze()
	s, err := leak.NewSurvivors("bench")
	if err != nil {
		b.Fatal(err)
	}
	e := New(context.Background(), Config{Owner: "bench", Router: rt, HandlerTimeout: time.Minute, Observer: observe.Nop{},
		Survivors: s, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Me: func() string { return "thisbot" }})
	b.Cleanup(func() { e.CloseBackground(time.Now()) })
	return e
}

// BenchmarkRun is the executor's own cost per update: route, timeout,
// labels, the leak check's start and end, recover and report, around a
// handler that does nothing.
//
//	go test -run '^$' -bench Run -benchmem ./internal/executor
func BenchmarkRun(b *testing.B) {
	e := benchExecutor(b)
	u := text("hello")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	handled := 0
	done := func(bool) { handled++ }
	b.ReportAllocs()
	for b.Loop() {
		u.UpdateID++
		e.Task(u, false, done).Run(ctx)
	}
	if handled != b.N {
		b.Fatalf("%d of %d handled", handled, b.N)
	}
}

// BenchmarkRunOnPool is an update's cost through a dispatch.Pool of 16
// workers and the executor, over 64 chats: with a timer per update (the
// pool has no Timeout) and with the deadline a worker's updates share (a
// bot's pool: Timeout = HandlerTimeout).
func BenchmarkRunOnPool(b *testing.B) {
	for _, bb := range []struct {
		name    string
		timeout time.Duration
	}{{"timer per update", 0}, {"shared deadline", time.Minute}} {
		b.Run(bb.name, func(b *testing.B) {
			e := benchExecutor(b)
			p, err := dispatch.New(dispatch.Config{Workers: 16, Timeout: bb.timeout})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan struct{})
			go func() { p.Run(ctx); close(ran) }()
			defer func() { cancel(); <-ran }()
			var wg sync.WaitGroup
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				wg.Add(1)
				u := &tg.Update{UpdateID: int64(i), Message: &tg.Message{Text: "hello", Chat: tg.Chat{ID: int64(i % 64), Type: "private"}}}
				if err := p.Submit(ctx, int64(i%64), false, e.Task(u, false, func(bool) { wg.Done() })); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	}
}
