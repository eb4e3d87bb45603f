// Package tidygram is a Telegram bot framework that cannot leak and cannot
// silently lose an update.
//
// A Bot receives updates by long polling (default) or webhook, routes each
// one to a handler, and runs handlers on a fixed pool of workers with
// per-chat order. Run owns every goroutine, connection and timer it starts
// and returns only after all of them have ended (or, for a handler that
// ignores its context, after it was abandoned and reported); the
// goroutines it (and its handlers) started are checked afterwards and
// survivors are reported by owner. Updates are confirmed to Telegram only
// after their handler ended, so a crash redelivers instead of losing
// (at-least-once; see Run).
//
// The data flow, one package per stage: a source (internal/poller or
// internal/webhook) hands each update to the executor (internal/executor),
// whose tasks run on the worker pool (dispatch) and call the handler the
// router picks; everything is reported to one observe.Observer. This
// package holds the Bot, its options and Run's shutdown order.
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
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram/dispatch"
	"github.com/tidygram/tidygram/internal/album"
	"github.com/tidygram/tidygram/internal/executor"
	"github.com/tidygram/tidygram/internal/owner"
	"github.com/tidygram/tidygram/internal/poller"
	"github.com/tidygram/tidygram/internal/webhook"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/spool"
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

// Observer receives everything a bot reports; see package observe.
type Observer = observe.Observer

// Label keys tidygram puts on its goroutines (pprof labels). Goroutines a
// handler starts inherit them.
const (
	LabelBot       = leak.LabelBot
	LabelComponent = leak.LabelComponent
	LabelHandler   = leak.LabelHandler
	LabelUpdateID  = leak.LabelUpdateID
	LabelChatID    = leak.LabelChatID
)

// Bot is a Telegram bot: routes and middleware, plus the runtime that feeds
// them. Register routes and middleware, then call Run.
type Bot struct {
	router    *router.Router
	cfg       config
	client    *tg.Client
	ownClient bool
	log       *slog.Logger
	obs       observe.Observer
	id        owner.Bot
	me        atomic.Pointer[tg.User]

	running   atomic.Bool
	ran       atomic.Bool              // Run has run: a Bot runs once
	state     atomic.Pointer[runState] // set while Run runs
	survivors *leak.Survivors          // per-update leak check; nil when off
	hook      *webhook.Receiver        // the webhook handler
	pool      *dispatch.Pool           // the worker pool of the one Run
	http      *http.Client             // tracked client for handlers' own HTTP calls
	httpTr    *http.Transport
}

// runState is the state of one Run: the pool and the executor feeding it.
type runState struct {
	pool   *dispatch.Pool
	exec   *executor.Executor
	albums *album.Collector // nil unless albums are collected (see OnAlbum)

	// puts are the spool puts tried again after an asynchronous one
	// failed (retryPut); waited for before the final confirmation.
	// chatPuts holds, per chat, the end of its last put not yet stored
	// (afterChatPut).
	putsMu      sync.Mutex
	puts        sync.WaitGroup
	putsStopped bool
	chatPuts    map[int64]chan struct{}
}

// New returns a Bot for token with opts applied and validated: an invalid
// option or combination is an *OptionError. It makes no network call and
// starts no goroutine.
func New(token string, opts ...Option) (*Bot, error) {
	cfg := defaults()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.client != nil && token == "" {
		return nil, optErr("WithClient", "empty token: pass the client's token (it is not used to call the API, the client has its own)")
	}
	b := &Bot{router: router.New(), cfg: cfg, log: cfg.logger}
	if b.log == nil {
		b.log = slog.Default()
	}
	var idb [6]byte
	_, _ = rand.Read(idb[:])
	b.id = owner.Bot(hex.EncodeToString(idb[:]))
	b.obs = observe.Multi(append([]observe.Observer{observe.Log(b.log)}, cfg.observers...)...)
	if err := b.observe(); err != nil {
		return nil, err
	}
	pool, err := dispatch.New(b.poolConfig())
	if err != nil {
		return nil, wrapErr("WithWorkers", err) // unreachable after check; kept in case dispatch's rules grow
	}
	b.pool = pool
	b.httpTr = http.DefaultTransport.(*http.Transport).Clone()
	b.http = leak.NewTracker(leak.WithUnclosed(b.obs.BodyUnclosed)).Client(&http.Client{Transport: b.httpTr})
	b.hook = webhook.New(b.webhookConfig())
	if cfg.client != nil {
		b.client = cfg.client
		return b, nil
	}
	// One idle connection per worker plus the poller: replies reuse
	// connections instead of dialling a new one each time.
	copts := []tg.Option{tg.WithMaxIdleConnsPerHost(b.idleConns())}
	if len(cfg.observers) > 0 {
		copts = append(copts, tg.WithMiddleware(observe.APIMiddleware(b.obs)))
	}
	if !cfg.noFlood {
		if b.cfg.flood == nil {
			ctl, err := limit.New(limit.WithObserver(limit.Observer{Waited: b.obs.LimiterWaited, Retrying: b.obs.LimiterRetrying}))
			if err != nil {
				return nil, wrapErr("WithFloodControl", err)
			}
			b.cfg.flood = ctl
		}
		copts = append(copts, tg.WithMiddleware(b.cfg.flood.Middleware()))
	}
	c, err := tg.NewClient(token, append(copts, cfg.clientOpts...)...)
	if err != nil {
		return nil, err
	}
	b.client, b.ownClient = c, true
	return b, nil
}

// idleConns is the keep-alive pool of the bot's own client.
func (b *Bot) idleConns() int { return b.cfg.workers + 2 }

// FloodControl returns the flood limiter and retry middleware installed on
// the bot's client (for its Stats), nil when there is none.
func (b *Bot) FloodControl() *limit.Control { return b.cfg.flood }

// HTTPClient returns an http.Client for handlers' own outbound HTTP calls.
// Every response body it returns is tracked: one dropped without Close is
// reported to the observer (logged, and counted by ops metrics) with the
// handler and update that opened it, once the garbage collector finds it,
// and then closed. Its idle connections are closed when Run returns. It
// has no timeout of its own: pass the handler's context.
func (b *Bot) HTTPClient() *http.Client { return b.http }

// Client returns the Bot API client the bot uses.
func (b *Bot) Client() *tg.Client { return b.client }

// ID returns the value of the LabelBot label on this bot's goroutines.
func (b *Bot) ID() string { return string(b.id) }

// Me returns the bot's own user, known once Run has started (nil before).
func (b *Bot) Me() *tg.User { return b.me.Load() }

// Run receives and handles updates until ctx is cancelled, then stops in
// this order: the pending poll is aborted at once (or the webhook server
// stops accepting); queued and running handlers get DrainTimeout to finish;
// then their contexts are cancelled, and handlers that still have not
// returned StopGrace later are abandoned; background work started with
// Context.Go is cancelled and awaited until the drain period is over;
// owned services stop; the final watermark is confirmed to Telegram
// (within ConfirmTimeout); idle connections are closed; and the goroutines
// the bot started are checked: survivors are logged by owner (returned as
// *LeakError with WithStrictLeaks).
//
// Run returns at most DrainTimeout + StopGrace + ConfirmTimeout +
// LeftoverWait after ctx is cancelled, whatever handlers do.
//
// Delivery is at-least-once: an update is confirmed only after its handler
// returned (an error or panic counts as handled: it is reported, not
// redelivered forever). A handler still running HandlerTimeout +
// AbandonGrace after it started is abandoned: reported (observer, error
// handler with *AbandonedError), its update counted as failed and
// confirmed, its worker replaced; the chat's next update goes on. Updates
// queued but not started when the drain period ends, and handlers cut off
// at stop, stay unconfirmed and come again on the next start. At most
// PollLimit updates are in flight beyond the lowest unhandled one.
//
// Run returns nil after a cancel, ErrUnauthorized, ErrWebhookActive or
// ErrOtherPoller when Telegram refuses the bot, or the error that stopped
// it. A Bot runs once: Run closes the client it created (later calls on it
// fail with tg.ErrClosed, and open no connection), and a second Run
// returns ErrStopped.
func (b *Bot) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer b.running.Store(false)
	if b.ran.Swap(true) {
		return ErrStopped
	}
	b.router.Freeze()

	// Everything Run starts, down to the connections net/http dials for
	// its own calls (getMe, the final confirmation), carries the bot's
	// labels, so the leftover check below waits for all of it.
	var err error
	b.id.Do(ctx, "run", func(ctx context.Context) { err = b.run(ctx) })
	// Whichever way run ended (a cancel during getMe included), the
	// client the bot created and the handlers' HTTP client let go of
	// their connections.
	if b.ownClient {
		b.client.Close()
	}
	b.httpTr.CloseIdleConnections()
	if lerr := b.checkLeftovers(); lerr != nil && b.cfg.strictLeaks && err == nil {
		return lerr
	}
	return err
}

// run is Run after its checks, on a goroutine labelled with the bot.
func (b *Bot) run(ctx context.Context) error {
	me, err := b.client.GetMe(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil // cancelled before it started: nothing was started
	case err != nil && poller.Classify(err) != nil:
		return poller.Classify(err)
	case err != nil:
		return fmt.Errorf("tidygram: getMe: %w", err)
	}
	b.me.Store(me)

	// The stages: executor and pool, then the owned services, then the
	// source, which runs until the stop.
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var stopAt atomic.Int64 // when the stop began: the drain period starts
	context.AfterFunc(runCtx, func() { stopAt.Store(time.Now().UnixNano()) })
	st := b.start(ctx)
	poolCtx := b.poolContext(runCtx, st)
	poolDone := make(chan struct{})
	go func() {
		defer close(poolDone)
		// Run's own goroutine (supervision) is "dispatch"; its context
		// carries the workers' labels, which they start under (Wrap) and
		// the executor gives back to them after each handler.
		b.id.Do(poolCtx, "dispatch", func(ctx context.Context) {
			st.pool.Run(pprof.WithLabels(ctx, b.id.Labels("worker")))
		})
	}()
	b.state.Store(st)
	b.obs.Start(b.liveState(st))
	stopServices := b.startServices(ctx, stop)
	stopLeakCheck := b.startLeakCheck(ctx)
	consumed := b.startConsumer(runCtx, stop)
	confirm, srcErr := b.receive(runCtx)

	// The stop, in order.
	stop(srcErr)
	<-consumed // the spool's consumer hands nothing more to the pool
	<-poolDone // drained, or cut off and abandoned
	b.state.Store(nil)
	if n := st.pool.Dropped(); n > 0 {
		b.log.Warn("tidygram: drain period over; updates not started stay unconfirmed and come again", "count", n, "drain_timeout", b.cfg.drainTimeout)
	}
	b.id.Do(ctx, "background", func(context.Context) {
		st.exec.CloseBackground(time.Unix(0, stopAt.Load()).Add(b.cfg.drainTimeout))
	})
	stopServices()
	stopLeakCheck()
	st.waitPuts()
	if confirm != nil {
		confirm()
	}
	if srcErr == nil {
		if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) && ctx.Err() == nil {
			srcErr = cause // a service failed
		}
	}
	return srcErr
}

// start builds one run's executor around the pool New built (a Bot runs
// once).
func (b *Bot) start(ctx context.Context) *runState {
	exec := executor.New(ctx, executor.Config{
		Owner:          b.id,
		Router:         b.router,
		Client:         b.client,
		HandlerTimeout: b.cfg.handlerTimeout,
		ErrorHandler:   b.cfg.errorHandler,
		Observer:       b.obs,
		Survivors:      b.survivors,
		Log:            b.log,
		Me: func() string {
			if me := b.me.Load(); me != nil {
				return me.Username
			}
			return ""
		},
	})
	pool := b.pool
	st := &runState{pool: pool, exec: exec}
	if b.collectsAlbums() {
		st.albums = album.New(context.WithoutCancel(ctx), album.Config{
			Wait: b.cfg.albumWait,
			Wrap: func(fn func()) { b.id.Do(ctx, "albums", func(context.Context) { fn() }) },
			Submit: func(ctx context.Context, key int64, parts []album.Part) error {
				ups := make([]*tg.Update, len(parts))
				redelivered := false
				for i, p := range parts {
					ups[i] = p.Update
					redelivered = redelivered || p.Redelivered
				}
				return pool.Submit(ctx, key, false, exec.AlbumTask(ups, redelivered, func(handled bool) {
					for _, p := range parts {
						p.Done(handled)
					}
				}))
			},
		})
	}
	return st
}

// poolConfig is the configuration of the bot's worker pool.
func (b *Bot) poolConfig() dispatch.Config {
	return dispatch.Config{
		Workers:   b.cfg.workers,
		QueueSize: b.cfg.queueSize,
		Timeout:   b.cfg.handlerTimeout, // the handlers' deadline, one timer per worker (see executor.run)
		Deadline:  b.cfg.handlerTimeout + b.cfg.abandonGrace,
		Drain:     b.cfg.drainTimeout,
		StopGrace: StopGrace,
		// ctx is the one Run was given, labelled as the workers (see run):
		// a worker starts under the labels its tasks' context carries.
		Wrap: func(ctx context.Context, loop func(context.Context)) {
			pprof.SetGoroutineLabels(ctx)
			loop(ctx)
		},
	}
}

// liveState is what the observers may read while st runs.
func (b *Bot) liveState(st *runState) observe.State {
	return observe.State{
		QueueDepth:     st.pool.Len,
		InFlight:       st.exec.InFlight,
		SessionEntries: b.cfg.sessionLen,
		OpenConns: func() int {
			open, _ := b.client.ConnStats()
			return int(open)
		},
		Ready:     b.Ready,
		Spool:     b.spoolState(),
		IdleConns: b.idleConns(),
		Routes:    b.router.Routes(),
	}
}

// startServices starts the owned services; stop cancels them and waits
// until all have returned. A service failing before the stop ends the run
// through fail.
func (b *Bot) startServices(ctx context.Context, fail context.CancelCauseFunc) (stop func()) {
	svcCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, s := range b.cfg.services {
		wg.Go(func() {
			b.id.Do(svcCtx, s.Name, func(ctx context.Context) {
				if err := s.Run(ctx); err != nil && svcCtx.Err() == nil {
					fail(fmt.Errorf("tidygram: service %s: %w", s.Name, err))
				}
			})
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// receive runs the update source until ctx is done or Telegram refuses the
// bot. confirm, when not nil, makes the final confirmation once handling
// has stopped.
func (b *Bot) receive(ctx context.Context) (confirm func(), err error) {
	wh := b.cfg.webhook
	switch {
	case wh != nil && wh.Addr != "":
		return nil, b.cfg.serveWebhook(b.hook, ctx, webhook.ServerConfig{
			Addr: wh.Addr, Listener: wh.Listener, Path: wh.Path, MaxOpenConns: wh.MaxOpenConns,
			CertFile: wh.CertFile, KeyFile: wh.KeyFile, TLSConfig: wh.TLSConfig, Drain: b.cfg.drainTimeout,
		}, b.setWebhook)
	case wh != nil:
		// The user's server feeds WebhookHandler.
		if err := b.setWebhook(ctx); err != nil {
			return nil, err
		}
		<-ctx.Done()
		return nil, nil
	}
	if l, ok := b.cfg.spool.(spool.Leader); ok {
		return nil, b.pollWhileLeading(ctx, l)
	}
	p := b.poller()
	return p.Confirm, p.Run(ctx)
}

// poller returns a long-polling source feeding submit.
func (b *Bot) poller() *poller.Poller {
	return poller.New(poller.Config{
		Client:         b.client,
		Limit:          b.cfg.pollLimit,
		Timeout:        b.cfg.pollTimeout,
		AllowedUpdates: b.cfg.allowedUpdates,
		AtMostOnce:     b.cfg.atMostOnce,
		BackoffMin:     b.cfg.backoffMin,
		BackoffMax:     b.cfg.backoffMax,
		Submit:         b.submit,
		Observer:       b.obs,
		Log:            b.log,
		Owner:          b.id,
	})
}

// errStopped is what submit returns when no Run is handling updates.
var errStopped = errors.New("tidygram: bot not running")

// submit is the seam between a source and the executor: it queues u on
// the pool (blocking while the queue is full); done is called once, after
// its handler returned, was abandoned, or it was dropped at stop (see
// executor.Executor.Task). With a spool, it puts u in the spool instead,
// and done is called once the spool holds it.
func (b *Bot) submit(ctx context.Context, u *tg.Update, done func(handled bool)) error {
	st := b.state.Load()
	if st == nil {
		return errStopped
	}
	if b.cfg.spool != nil {
		return b.spoolPut(ctx, st, u, done)
	}
	key, unordered := executor.Lane(u)
	if st.albums != nil {
		if taken, err := st.albums.Add(ctx, key, unordered, album.Part{Update: u, Done: done}); taken || err != nil {
			return err
		}
	}
	return st.pool.Submit(ctx, key, unordered, st.exec.Task(u, false, done))
}

// Ready reports whether the bot can serve: Run has started (getMe
// answered) and, for webhooks with a URL, Telegram reports no delivery
// error in the last 5 minutes. ops uses it for /readyz.
func (b *Bot) Ready(ctx context.Context) error {
	if b.state.Load() == nil || b.Me() == nil {
		return errStopped
	}
	if err := b.spoolReady(ctx); err != nil {
		return err
	}
	if b.cfg.webhook == nil || b.cfg.webhook.URL == "" {
		return nil
	}
	info, err := b.client.GetWebhookInfo(ctx)
	if err != nil {
		return err
	}
	if info.LastErrorDate != 0 && time.Since(time.Unix(info.LastErrorDate, 0)) < 5*time.Minute {
		return errors.New("webhook delivery error: " + info.LastErrorMessage)
	}
	return nil
}

// checkLeftovers waits up to LeftoverWait for the goroutines labelled with
// this bot's id to end, and reports those that did not. The keep-alive
// connections of a caller's client (WithClient) are not counted: they are
// the caller's to close. A response body left open is counted either way.
func (b *Bot) checkLeftovers() error {
	deadline := time.Now().Add(b.cfg.leftoverWait)
	var left []leak.Group
	for {
		groups, err := leak.Snapshot()
		if err != nil {
			b.log.Warn("tidygram: cannot check goroutines after stop", "error", err)
			return nil
		}
		left = leak.Filter(groups, func(g leak.Group) bool {
			if g.Labels[LabelBot] != string(b.id) {
				return false
			}
			switch g.PoolRole() {
			case leak.PoolReader, leak.PoolWriter:
				// A keep-alive connection of a caller's client (WithClient)
				// is the caller's to close; the bot's own are closed above.
				return b.ownClient
			}
			return true
		})
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
