// Package executor runs one update: it routes it, runs its handler under
// the handler's labels and timeout, recovers a panic, reports the result
// (error handler, observer, leak check) and settles the update exactly once
// through the done callback its source gave — after the handler returned,
// when the handler was abandoned, or when the update was dropped at stop.
//
// executor owns the background work handlers start with Context.Go (its
// scope); it starts no other goroutine. It never queues or orders work:
// that is package dispatch, which calls its Tasks.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram/dispatch"
	"github.com/tidygram/tidygram/internal/owner"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// Config is what an Executor needs; every field but ErrorHandler, Me and
// Survivors is required.
type Config struct {
	Owner          owner.Bot
	Router         *router.Router // frozen
	Client         *tg.Client
	HandlerTimeout time.Duration
	// ErrorHandler receives handler errors, panics (*PanicError) and
	// abandonments (*AbandonedError); nil logs them.
	ErrorHandler func(c *router.Context, err error)
	Observer     observe.Observer
	Survivors    *leak.Survivors // per-update leak check; nil when off
	Log          *slog.Logger
	// Me returns the bot's username, to tell commands addressed to
	// other bots ("/start@otherbot"), which are confirmed unrouted.
	Me func() string
}

// Executor turns updates into dispatch Tasks.
type Executor struct {
	cfg      Config
	bg       scope
	handling atomic.Int64
}

// New returns an Executor whose background work runs with contexts derived
// from parent (values only: it is cancelled by CloseBackground).
func New(parent context.Context, cfg Config) *Executor {
	e := &Executor{cfg: cfg}
	e.bg.init(context.WithoutCancel(parent))
	return e
}

// InFlight returns the number of handlers running now (abandoned ones
// included until they return).
func (e *Executor) InFlight() int { return int(e.handling.Load()) }

// CloseBackground refuses new background work, cancels the running work's
// context and waits for it until deadline (at least a short moment). Work
// that ignores its context is left running and reported by the caller's
// leftover check.
func (e *Executor) CloseBackground(deadline time.Time) { e.bg.close(deadline) }

// Lane returns the dispatch lane of u (see spool.Lane: the spool
// partitions by the same key).
func Lane(u *tg.Update) (key int64, unordered bool) { return spool.Lane(u) }

// Task returns the dispatch Task that runs u; done is called exactly once:
// after its handler returned (handled true; false when the drain period
// cut it off), when it was abandoned (true: it counts as failed and is
// confirmed; false at stop), or when it was dropped at stop without
// running (false).
// redelivered marks an update a spool may have delivered before
// (Context.Redelivered).
func (e *Executor) Task(u *tg.Update, redelivered bool, done func(handled bool)) dispatch.Task {
	return &task{e: e, u: u, done: done, redelivered: redelivered}
}

// AlbumTask is Task for an album collected before dispatch (package
// internal/album): parts (1 to 10, in arrival order) run as one update —
// routed and handled as the first part, Context.Album giving every part's
// message; done is called exactly once, as for Task, for the whole album.
func (e *Executor) AlbumTask(parts []*tg.Update, redelivered bool, done func(handled bool)) dispatch.Task {
	msgs := make([]*tg.Message, 0, len(parts))
	for _, u := range parts {
		if m := u.NewMessage(); m != nil {
			msgs = append(msgs, m)
		}
	}
	return &task{e: e, u: parts[0], done: done, redelivered: redelivered, album: msgs}
}

// task is one update on its way through the pool.
type task struct {
	e           *Executor
	u           *tg.Update
	done        func(handled bool)
	redelivered bool
	album       []*tg.Message // the parts of a collected album; nil otherwise
	started     atomic.Int64  // unix nanos; Abandon reads it on another goroutine
	settled     atomic.Bool   // done was called (or is being called)
}

// settle reports whether the caller is the one to finish the update.
func (t *task) settle() bool { return t.settled.CompareAndSwap(false, true) }

// Run routes the update and runs its handler. Updates no route takes (and
// commands addressed to other bots) count as handled with route "".
func (t *task) Run(ctx context.Context) {
	e := t.e
	begin := time.Now()
	t.started.Store(begin.UnixNano())
	e.handling.Add(1)
	defer e.handling.Add(-1)
	name, h, ok := e.route(t.u)
	var err error
	if ok {
		if name, err = e.run(ctx, t, name, h, begin); errors.Is(err, errAbandoned) {
			return // reported by Abandon
		}
	} else if !t.settle() {
		return
	}
	e.cfg.Observer.UpdateHandled(t.u, name, time.Since(begin), err)
	t.done(ctx.Err() == nil)
}

// Abandon is called when the handler ran past its deadline, or ignored its
// cancelled context at stop.
func (t *task) Abandon(ctx context.Context, stopping bool) {
	if !t.settle() {
		return // it returned just now
	}
	e := t.e
	name, _, _ := e.route(t.u)
	if stopping {
		e.cfg.Log.Warn("tidygram: handler did not return after its context was cancelled at stop; update stays unconfirmed",
			"handler", name, "update_id", t.u.UpdateID)
		t.done(false)
		return
	}
	ran := time.Since(time.Unix(0, t.started.Load()))
	if e.cfg.Survivors != nil {
		e.cfg.Survivors.Reported(t.u.UpdateID) // reported here, with its goroutines: not again as survivors
	}
	rep, rerr := leak.UpdateReport(string(e.cfg.Owner), t.u.UpdateID, name)
	if rerr != nil {
		e.cfg.Log.Warn("tidygram: cannot read the abandoned handler's goroutines", "error", rerr)
	}
	if c := t.u.Chat(); c != nil && rep.ChatID == "" {
		rep.ChatID = strconv.FormatInt(c.ID, 10)
	}
	aerr := &AbandonedError{Route: name, UpdateID: t.u.UpdateID, Ran: ran, Timeout: e.cfg.HandlerTimeout, Report: rep}
	e.cfg.Observer.HandlerAbandoned(rep, ran)
	e.cfg.Observer.UpdateHandled(t.u, name, ran, aerr)
	if e.cfg.ErrorHandler != nil {
		hctx, cancel := context.WithTimeout(ctx, e.cfg.HandlerTimeout)
		e.report(hctx, t, name, aerr)
		cancel()
	}
	t.done(true)
}

// Drop is called for an update still queued when the drain period ended:
// it stays unconfirmed.
func (t *task) Drop() {
	if t.settle() {
		t.done(false)
	}
}

// errAbandoned is what run returns when its update was abandoned while the
// handler ran.
var errAbandoned = errors.New("tidygram: abandoned")

// route returns u's route name and handler.
func (e *Executor) route(u *tg.Update) (string, router.Handler, bool) {
	if e.forOtherBot(u) {
		return "", nil, false
	}
	return e.cfg.Router.Match(u)
}

// run runs h for t's update, begun at begin, under the handler's labels
// and timeout; it reports the error (or recovered panic) and tells the
// leak check when the handler starts and ends (an abandoned one too, when
// it returns). It returns errAbandoned when the update was abandoned
// meanwhile (then it reports nothing), and the route that took the update:
// name, or the one the router settled on while running (router.Deferred
// routes).
func (e *Executor) run(ctx context.Context, t *task, name string, h router.Handler, begin time.Time) (route string, err error) {
	// In a bot ctx already ends by then (dispatch.Config.Timeout, shared by
	// a worker's updates): this is then a plain cancel, with no timer.
	hctx, cancel := context.WithDeadline(ctx, begin.Add(e.cfg.HandlerTimeout))
	defer cancel()
	if s := e.cfg.Survivors; s != nil {
		s.Started(t.u.UpdateID)
		defer s.Ended(t.u.UpdateID, name)
	}
	c := e.labelled(hctx, t, name)
	defer pprof.SetGoroutineLabels(hctx) // as pprof.Do does, without its closure
	err = call(c, h)
	if !t.settle() {
		return c.Route, errAbandoned
	}
	if err != nil {
		e.reportTo(c, err)
	}
	return c.Route, err
}

// labelled puts the calling goroutine under the handler's labels for t's
// update (goroutines it starts inherit them) and returns the Context for
// the update; the caller restores the goroutine's labels (to ctx's) when
// done.
func (e *Executor) labelled(ctx context.Context, t *task, name string) *router.Context {
	lctx := pprof.WithLabels(ctx, e.cfg.Owner.Handler(t.u, name))
	pprof.SetGoroutineLabels(lctx)
	if t.album != nil {
		lctx = router.WithAlbum(lctx, t.album)
	}
	c := router.NewContext(lctx, t.u, e.cfg.Client, name, e.bg.spawn)
	c.Redelivered = t.redelivered
	return c
}

// report hands err about t's update to the error handler, with a Context
// for the update under the handler's labels.
func (e *Executor) report(ctx context.Context, t *task, name string, err error) {
	c := e.labelled(ctx, t, name)
	defer pprof.SetGoroutineLabels(ctx)
	e.reportTo(c, err)
}

// reportTo passes err to the error handler, or logs it.
func (e *Executor) reportTo(c *router.Context, err error) {
	if e.cfg.ErrorHandler != nil {
		e.cfg.ErrorHandler(c, err)
		return
	}
	e.cfg.Log.Error("tidygram: handler failed", "handler", c.Route, "update_id", c.Update.UpdateID, "error", err)
}

// call runs h, turning a panic into a *PanicError.
func call(c *router.Context, h router.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Route: c.Route, UpdateID: c.Update.UpdateID, Value: v, Stack: debug.Stack()}
		}
	}()
	return h(c)
}

// forOtherBot reports whether u is a command addressed to another bot
// ("/start@otherbot"); such updates are confirmed without routing.
func (e *Executor) forOtherBot(u *tg.Update) bool {
	if u.CallbackQuery != nil {
		return false // the button's message is not addressed to anyone
	}
	m := u.EffectiveMessage()
	if m == nil || len(m.Text) == 0 || m.Text[0] != '/' {
		return false
	}
	_, to, _, ok := router.ParseCommand(m.Text)
	if !ok || to == "" || e.cfg.Me == nil {
		return false
	}
	me := e.cfg.Me()
	return me != "" && !strings.EqualFold(to, me)
}

// PanicError is what the error handler receives when a handler panicked.
// The bot keeps running; the update counts as handled.
type PanicError struct {
	Route    string
	UpdateID int64
	Value    any
	Stack    []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("tidygram: handler %q panicked on update %d: %v", e.Route, e.UpdateID, e.Value)
}

// AbandonedError is what the error handler receives for a handler that was
// still running HandlerTimeout + AbandonGrace after it started (it ignores
// its context). Its update is confirmed as failed; the goroutine is left
// to end by itself. Report holds the update's goroutines at that moment
// (handler, chat, creation sites and where they are blocked).
type AbandonedError struct {
	Route    string
	UpdateID int64
	Ran      time.Duration // how long it had run when abandoned
	Timeout  time.Duration // the handler timeout it ignored
	Report   leak.Report
}

func (e *AbandonedError) Error() string {
	return fmt.Sprintf("tidygram: handler %q abandoned on update %d: still running %s after it started (timeout %s); %d goroutine(s) left behind:\n%s",
		e.Route, e.UpdateID, e.Ran.Round(time.Millisecond), e.Timeout, e.Report.Count, leak.Format(e.Report.Groups))
}
