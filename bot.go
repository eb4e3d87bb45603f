// Package tidygram is a Telegram bot framework that cannot leak and cannot
// silently lose an update.
//
// A Bot receives updates by long polling (default) or webhook, routes each
// one to a handler, and runs handlers on a fixed pool of workers with
// per-chat order. Run owns every goroutine, connection and timer it starts
// and returns only after all of them have ended; the goroutines it (and its
// handlers) started are checked afterwards and survivors are reported by
// owner. Updates are confirmed to Telegram only after their handler ended,
// so a crash redelivers instead of losing (at-least-once; see Run).
//
// tidygram never calls deleteWebhook on its own, never starts a goroutine
// per update or per chat, and never reads a request body without a cap.
package tidygram

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram/dispatch"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/tg"
)

// Context is what a handler receives; see router.Context.
type Context = router.Context

// Handler handles one update; see router.Handler.
type Handler = router.Handler

// Middleware wraps handlers; see router.Middleware.
type Middleware = router.Middleware

// Filter selects updates for a route; see package router for the filters.
type Filter = router.Filter

// Label keys tidygram puts on its goroutines (pprof labels). Goroutines a
// handler starts inherit them.
const (
	LabelBot       = leak.LabelBot
	LabelComponent = leak.LabelComponent
	LabelHandler   = leak.LabelHandler
	LabelUpdateID  = leak.LabelUpdateID
	LabelChatID    = leak.LabelChatID
)

// Bot is a Telegram bot: a router of handlers plus the runtime that feeds
// it. Register routes and middleware, then call Run.
type Bot struct {
	*router.Router

	cfg       config
	client    *tg.Client
	ownClient bool
	log       *slog.Logger
	id        string
	me        atomic.Pointer[tg.User]

	running   atomic.Bool
	state     atomic.Pointer[runState] // set while Run runs (webhook handler uses it)
	handling  atomic.Int64             // handlers running now
	survivors *leak.Survivors          // per-update leak check; nil when off
	http      *http.Client             // tracked client for handlers' own HTTP calls
	httpTr    *http.Transport
}

// New returns a Bot for token with opts applied. It makes no network call
// and starts no goroutine.
func New(token string, opts ...Option) (*Bot, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.workers <= 0 || cfg.queueSize <= 0 || cfg.pollLimit < 1 || cfg.pollLimit > 100 {
		return nil, fmt.Errorf("tidygram: invalid options: workers %d, queue %d, poll limit %d (1-100)", cfg.workers, cfg.queueSize, cfg.pollLimit)
	}
	if cfg.pollTimeout < time.Second {
		cfg.pollTimeout = time.Second
	}
	if cfg.handlerTimeout <= 0 || cfg.abandonGrace < 0 || cfg.drainTimeout < 0 || cfg.leftoverWait < 0 {
		return nil, fmt.Errorf("tidygram: invalid options: handler timeout %s (> 0), abandon grace %s, drain timeout %s, leftover wait %s (≥ 0)",
			cfg.handlerTimeout, cfg.abandonGrace, cfg.drainTimeout, cfg.leftoverWait)
	}
	if cfg.webhook != nil {
		if err := cfg.webhook.check(); err != nil {
			return nil, err
		}
	}
	b := &Bot{Router: router.New(), cfg: cfg, log: cfg.logger}
	if b.log == nil {
		b.log = slog.Default()
	}
	var idb [6]byte
	_, _ = rand.Read(idb[:])
	b.id = hex.EncodeToString(idb[:])
	b.observe()
	cfg = b.cfg
	b.httpTr = http.DefaultTransport.(*http.Transport).Clone()
	b.http = leak.NewTracker(leak.WithUnclosed(b.unclosedBody)).Client(&http.Client{Transport: b.httpTr})
	if cfg.client != nil {
		b.client = cfg.client
		b.cfg.flood = nil // the caller's client has its own middleware
	} else {
		// One idle connection per worker plus the poller: replies reuse
		// connections instead of dialling a new one each time.
		copts := []tg.Option{tg.WithMaxIdleConnsPerHost(cfg.workers + 2)}
		if !b.cfg.noFlood {
			if b.cfg.flood == nil {
				b.cfg.flood = limit.New(limit.WithObserver(b.cfg.metrics.LimiterObserver()))
			}
			copts = append(copts, tg.WithMiddleware(b.cfg.flood.Middleware()))
		}
		copts = append(copts, cfg.clientOpts...)
		c, err := tg.NewClient(token, copts...)
		if err != nil {
			return nil, err
		}
		b.client, b.ownClient = c, true
	}
	return b, nil
}

// FloodControl returns the flood limiter and retry middleware installed on
// the bot's client (for its Stats), nil when there is none.
func (b *Bot) FloodControl() *limit.Control { return b.cfg.flood }

// HTTPClient returns an http.Client for handlers' own outbound HTTP calls.
// Every response body it returns is tracked: one dropped without Close is
// reported (logged, and counted in tidygram_response_bodies_unclosed_total)
// with the handler and update that opened it, once the garbage collector
// finds it, and then closed. Its idle connections are closed when Run
// returns. It has no timeout of its own: pass the handler's context.
func (b *Bot) HTTPClient() *http.Client { return b.http }

func (b *Bot) unclosedBody(u leak.Unclosed) {
	b.cfg.metrics.BodyUnclosed()
	b.log.Warn("tidygram: response body dropped without Close", "body", u.String())
}

// Client returns the Bot API client the bot uses.
func (b *Bot) Client() *tg.Client { return b.client }

// ID returns the value of the LabelBot label on this bot's goroutines.
func (b *Bot) ID() string { return b.id }

// Me returns the bot's own user, known once Run has started (nil before).
func (b *Bot) Me() *tg.User { return b.me.Load() }

// runState is the state of one Run.
type runState struct {
	pool *dispatch.Pool
	bg   scope   // background work started with Context.Go
	seen *recent // webhook: recently handled update_ids
}

// Run receives and handles updates until ctx is cancelled, then stops in
// this order: the pending poll is aborted at once (or the webhook server
// stops accepting); queued and running handlers get DrainTimeout to finish;
// then their contexts are cancelled, and handlers that still have not
// returned StopGrace later are abandoned; background work started with
// Context.Go is cancelled and awaited until the drain period is over; the
// final watermark is confirmed to Telegram; idle connections are closed;
// and the goroutines the bot started are checked: survivors are logged by
// owner (returned as *LeakError with WithStrictLeaks).
//
// Run returns at most DrainTimeout + LeftoverWait + about 4 s (StopGrace,
// the final confirmation's deadline) after ctx is cancelled, whatever
// handlers do.
//
// Delivery is at-least-once: an update is confirmed only after its handler
// returned (an error or panic counts as handled: it is reported, not
// redelivered forever). A handler still running HandlerTimeout +
// AbandonGrace after it started is abandoned: reported (log, error handler
// with *AbandonedError, leak metric), its update counted as failed and
// confirmed, its worker replaced; the chat's next update goes on. Updates
// queued but not started when the drain period ends, and handlers cut off
// at stop, stay unconfirmed and come again on the next start. At most
// PollLimit updates are in flight beyond the lowest unhandled one.
//
// Run returns nil after a cancel, ErrUnauthorized, ErrWebhookActive or
// ErrOtherPoller when Telegram refuses the bot, or the error that stopped
// it. It blocks until everything it started has ended or was abandoned and
// reported.
func (b *Bot) Run(ctx context.Context) (err error) {
	if !b.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer b.running.Store(false)
	b.Router.Freeze()

	me, err := b.client.GetMe(ctx)
	if err != nil && ctx.Err() != nil {
		return nil // cancelled before it started: nothing was started
	}
	if err != nil {
		if fatal := classifyPollError(err); fatal != nil {
			return fatal
		}
		return fmt.Errorf("tidygram: getMe: %w", err)
	}
	b.me.Store(me)

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	st := &runState{seen: newRecent(DefaultDedupeWindow, DefaultDedupeCapacity)}
	st.bg.init(context.WithoutCancel(ctx))
	st.pool = dispatch.New(dispatch.Config{
		Workers:   b.cfg.workers,
		QueueSize: b.cfg.queueSize,
		Deadline:  b.cfg.handlerTimeout + b.cfg.abandonGrace,
		Drain:     b.cfg.drainTimeout,
		StopGrace: StopGrace,
		Wrap: func(ctx context.Context, loop func(context.Context)) {
			b.labelled(ctx, "worker", loop)
		},
	})
	var stopped atomic.Int64 // when the stop began (unix nanos): the drain period starts
	context.AfterFunc(runCtx, func() { stopped.Store(time.Now().UnixNano()) })
	poolDone := make(chan struct{})
	go func() {
		defer close(poolDone)
		b.labelled(runCtx, "dispatch", func(ctx context.Context) { st.pool.Run(ctx) })
	}()
	b.state.Store(st)

	// Owned services run until the handlers have drained.
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	var svcWG sync.WaitGroup
	for _, s := range b.cfg.services {
		svcWG.Go(func() {
			b.labelled(svcCtx, s.Name, func(ctx context.Context) {
				if err := s.Run(ctx); err != nil && svcCtx.Err() == nil {
					stop(fmt.Errorf("tidygram: service %s: %w", s.Name, err))
				}
			})
		})
	}

	var srcErr error
	switch {
	case b.cfg.webhook != nil && b.cfg.webhook.Addr != "":
		srcErr = b.serveWebhook(runCtx)
	case b.cfg.webhook != nil:
		// The user's server feeds WebhookHandler.
		if srcErr = b.setWebhook(runCtx); srcErr == nil {
			<-runCtx.Done()
		}
	default:
		srcErr = b.poll(runCtx, st, poolDone)
	}
	if srcErr != nil {
		stop(srcErr)
	}
	stop(nil)
	<-poolDone
	b.state.Store(nil)
	if n := st.pool.Dropped(); n > 0 {
		b.log.Warn("tidygram: drain period over; updates not started stay unconfirmed and come again", "count", n, "drain_timeout", b.cfg.drainTimeout)
	}
	// Handlers are done: background work is cancelled and awaited until
	// the drain period is over.
	b.labelled(ctx, "background", func(context.Context) {
		st.bg.close(time.Unix(0, stopped.Load()).Add(b.cfg.drainTimeout))
	})
	stopServices()
	svcWG.Wait()
	if srcErr == nil {
		if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) && ctx.Err() == nil {
			srcErr = cause // a service failed
		}
	}
	if b.ownClient {
		b.client.Close()
	}
	b.httpTr.CloseIdleConnections()
	if lerr := b.checkLeftovers(); lerr != nil && b.cfg.strictLeaks && srcErr == nil {
		return lerr
	}
	return srcErr
}

// labels returns the pprof labels of a component of this bot.
func (b *Bot) labels(component string) pprof.LabelSet {
	return pprof.Labels(LabelBot, b.id, LabelComponent, component)
}

// labelled runs fn with this bot's labels for component on the current
// goroutine (so goroutines fn starts inherit them).
func (b *Bot) labelled(ctx context.Context, component string, fn func(context.Context)) {
	pprof.Do(ctx, b.labels(component), fn)
}

// laneKey returns the dispatch lane of u: its chat, else its sender (a
// private chat's id equals its user's), else none (runs unordered).
func laneKey(u *tg.Update) (key int64, unordered bool) {
	if c := u.Chat(); c != nil {
		return c.ID, false
	}
	if s := u.Sender(); s != nil {
		return s.ID, false
	}
	return 0, true
}

// submit queues u; done runs once: after its handler returned (handled
// true; false when the drain period cut it off), when it was abandoned
// (true: confirmed as failed; false at stop), or when it was dropped at
// stop without running (false). It blocks while the queue is full.
func (b *Bot) submit(ctx context.Context, st *runState, u *tg.Update, done func(handled bool)) error {
	key, unordered := laneKey(u)
	return st.pool.Submit(ctx, key, unordered, &updateTask{b: b, st: st, u: u, done: done})
}

// updateTask is one update on its way through the pool.
type updateTask struct {
	b       *Bot
	st      *runState
	u       *tg.Update
	done    func(handled bool)
	started atomic.Int64 // unix nanos; Abandon reads it on another goroutine
	settled atomic.Bool  // done was called (or is being called)
}

// settle reports whether the caller is the one to finish the update.
func (t *updateTask) settle() bool { return t.settled.CompareAndSwap(false, true) }

// Run routes the update and runs its handler with its timeout, labels,
// panic recovery and error reporting. Updates no route takes (and commands
// addressed to other bots) count as handled with route "".
func (t *updateTask) Run(ctx context.Context) {
	b := t.b
	begin := time.Now()
	t.started.Store(begin.UnixNano())
	b.handling.Add(1)
	defer b.handling.Add(-1)
	var name string
	var err error
	if h, ok := b.route(t.u, &name); ok {
		if err = b.run(ctx, t, name, h); errors.Is(err, errAbandoned) {
			return // reported by Abandon
		}
	} else if !t.settle() {
		return
	}
	b.handled(t.u, name, time.Since(begin), err)
	t.done(ctx.Err() == nil)
}

// Abandon is called when the handler ran past HandlerTimeout +
// AbandonGrace, or ignored its cancelled context at stop.
func (t *updateTask) Abandon(ctx context.Context, stopping bool) {
	if !t.settle() {
		return // it returned just now
	}
	b := t.b
	var name string
	b.route(t.u, &name)
	if stopping {
		b.log.Warn("tidygram: handler did not return after its context was cancelled at stop; update stays unconfirmed",
			"handler", name, "update_id", t.u.UpdateID)
		t.done(false)
		return
	}
	ran := time.Since(time.Unix(0, t.started.Load()))
	rep, rerr := leak.UpdateReport(b.id, t.u.UpdateID, name)
	if c := t.u.Chat(); c != nil && rep.ChatID == "" {
		rep.ChatID = strconv.FormatInt(c.ID, 10)
	}
	aerr := &AbandonedError{Route: name, UpdateID: t.u.UpdateID, Ran: ran, Timeout: b.cfg.handlerTimeout, Report: rep}
	b.cfg.metrics.Leaked(name, max(rep.Count, 1))
	b.log.Error("tidygram: handler abandoned: still running past its timeout; update confirmed as failed, worker replaced",
		"handler", name, "update_id", t.u.UpdateID, "chat_id", rep.ChatID, "ran", ran.Round(time.Millisecond),
		"goroutines", rep.Count, "report", leak.Format(rep.Groups), "report_error", rerr)
	b.handled(t.u, name, ran, aerr)
	if b.cfg.errorHandler != nil {
		hctx, cancel := context.WithTimeout(ctx, b.cfg.handlerTimeout)
		b.reportError(hctx, t, name, aerr)
		cancel()
	}
	t.done(true)
}

// Drop is called for an update still queued when the drain period ended:
// it stays unconfirmed.
func (t *updateTask) Drop() {
	if t.settle() {
		t.done(false)
	}
}

// errAbandoned is what run returns when its update was abandoned while the
// handler ran.
var errAbandoned = errors.New("tidygram: abandoned")

// handled records the end of an update's handling.
func (b *Bot) handled(u *tg.Update, route string, d time.Duration, err error) {
	b.cfg.metrics.UpdateHandled(u.Kind(), route, d, err)
	if hk := b.cfg.hooks.Handled; hk != nil {
		hk(u, route, d, err)
	}
}

// route returns the handler for u and its route name.
func (b *Bot) route(u *tg.Update, name *string) (Handler, bool) {
	if b.forOtherBot(u) {
		return nil, false
	}
	n, h, ok := b.Router.Match(u)
	*name = n
	return h, ok
}

// handlerLabels returns the pprof labels of a handler run.
func (b *Bot) handlerLabels(u *tg.Update, name string) pprof.LabelSet {
	chat := ""
	if c := u.Chat(); c != nil {
		chat = strconv.FormatInt(c.ID, 10)
	}
	return pprof.Labels(LabelBot, b.id, LabelComponent, "handler", LabelHandler, name,
		LabelUpdateID, strconv.FormatInt(u.UpdateID, 10), LabelChatID, chat)
}

// run runs h for t's update under the handler's labels and timeout; it
// reports the error (or recovered panic) and hands the update to the leak
// check. It returns errAbandoned when the update was abandoned meanwhile
// (then it reports nothing).
func (b *Bot) run(ctx context.Context, t *updateTask, name string, h Handler) (err error) {
	hctx, cancel := context.WithTimeout(ctx, b.cfg.handlerTimeout)
	defer cancel()
	pprof.Do(hctx, b.handlerLabels(t.u, name), func(lctx context.Context) {
		c := router.NewContext(lctx, t.u, b.client, name, t.st.bg.spawner(lctx))
		err = b.call(c, h)
		if !t.settle() {
			err = errAbandoned
			return
		}
		if err != nil {
			b.reportErrorTo(c, err)
		}
	})
	if b.survivors != nil && err != errAbandoned {
		b.survivors.Ended(t.u.UpdateID, name)
	}
	return err
}

// reportError hands err about t's update to the error handler, with a
// Context for the update under the handler's labels.
func (b *Bot) reportError(ctx context.Context, t *updateTask, name string, err error) {
	pprof.Do(ctx, b.handlerLabels(t.u, name), func(lctx context.Context) {
		b.reportErrorTo(router.NewContext(lctx, t.u, b.client, name, t.st.bg.spawner(lctx)), err)
	})
}

// reportErrorTo passes err to the error handler, or logs it.
func (b *Bot) reportErrorTo(c *Context, err error) {
	if b.cfg.errorHandler != nil {
		b.cfg.errorHandler(c, err)
		return
	}
	b.log.Error("tidygram: handler failed", "handler", c.Route, "update_id", c.Update.UpdateID, "error", err)
}

// received records an update taken from a source.
func (b *Bot) received(u *tg.Update, dup bool) {
	if !dup {
		b.cfg.metrics.UpdateReceived(u.Kind())
	}
	if h := b.cfg.hooks.Received; h != nil {
		h(u, dup)
	}
}

// call runs h, turning a panic into a *PanicError.
func (b *Bot) call(c *Context, h Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Route: c.Route, UpdateID: c.Update.UpdateID, Value: v, Stack: debug.Stack()}
		}
	}()
	return h(c)
}

// forOtherBot reports whether u is a command addressed to another bot
// ("/start@otherbot"); such updates are confirmed without routing.
func (b *Bot) forOtherBot(u *tg.Update) bool {
	m := router.Message(u)
	if m == nil || len(m.Text) == 0 || m.Text[0] != '/' {
		return false
	}
	_, to, _, ok := router.ParseCommand(m.Text)
	me := b.me.Load()
	return ok && to != "" && me != nil && !strings.EqualFold(to, me.Username)
}

// checkLeftovers waits up to LeftoverWait for the goroutines labelled with
// this bot's id to end, and reports those that did not.
func (b *Bot) checkLeftovers() error {
	deadline := time.Now().Add(b.cfg.leftoverWait)
	var left []leak.Group
	for {
		groups, err := leak.Snapshot()
		if err != nil {
			b.log.Warn("tidygram: cannot check goroutines after stop", "error", err)
			return nil
		}
		left = leak.Filter(groups, func(g leak.Group) bool { return g.Labels[LabelBot] == b.id })
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(left) == 0 {
		return nil
	}
	report := leak.Format(left)
	n := leak.Count(left)
	b.log.Error("tidygram: goroutines outlived Run", "count", n, "report", report)
	return &LeakError{Count: n, Report: report}
}
