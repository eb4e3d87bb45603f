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
// stops accepting), queued and running handlers get DrainTimeout to finish,
// then their contexts are cancelled; background work started with
// Context.Go is cancelled and awaited (at most DrainTimeout); the final watermark is confirmed to
// Telegram; idle connections are closed; and the goroutines the bot started
// are checked: survivors are logged by owner (returned as *LeakError with
// WithStrictLeaks).
//
// Delivery is at-least-once: an update is confirmed only after its handler
// returned (an error or panic counts as handled: it is reported, not
// redelivered forever). Updates queued but not started when the drain
// period ends stay unconfirmed and come again on the next start. At most
// PollLimit updates are in flight beyond the lowest unhandled one.
//
// Run returns nil after a cancel, ErrUnauthorized, ErrWebhookActive or
// ErrOtherPoller when Telegram refuses the bot, or the error that stopped
// it. It blocks until everything it started has ended.
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
	taskCtx, cancelTasks := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTasks()
	drain := make(chan struct{})
	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()

	st := &runState{seen: newRecent(DefaultDedupeWindow, DefaultDedupeCapacity)}
	st.bg.init(context.WithoutCancel(ctx))
	st.pool = dispatch.New(dispatch.Config{
		Workers:   b.cfg.workers,
		QueueSize: b.cfg.queueSize,
		Wrap: func(ctx context.Context, loop func(context.Context)) {
			b.labelled(ctx, "worker", loop)
		},
		// A dropped task runs with a cancelled context: it reports
		// itself unhandled, so its update stays unconfirmed.
		Dropped: func(_ int64, t dispatch.Task) { t(cancelled) },
	})

	var wg sync.WaitGroup
	poolDone := make(chan struct{})
	wg.Go(func() {
		defer close(poolDone)
		b.labelled(runCtx, "dispatch", func(context.Context) { st.pool.Run(runCtx, taskCtx, drain) })
	})
	// Drain timer: after the stop, handlers get DrainTimeout, then their
	// contexts are cancelled and what is still queued is dropped.
	wg.Go(func() {
		b.labelled(context.Background(), "drain", func(context.Context) {
			select {
			case <-poolDone:
				return
			case <-runCtx.Done():
			}
			t := time.NewTimer(b.cfg.drainTimeout)
			defer t.Stop()
			select {
			case <-poolDone:
			case <-t.C:
				b.log.Warn("tidygram: drain period over, cancelling running handlers", "drain_timeout", b.cfg.drainTimeout, "in_flight", st.pool.Len())
				close(drain)
				cancelTasks()
			}
		})
	})
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
	// Handlers are done: background work is cancelled and awaited (for
	// at most the drain period).
	b.labelled(ctx, "background", func(context.Context) { st.bg.close(b.cfg.drainTimeout) })
	stopServices()
	svcWG.Wait()
	wg.Wait()
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

// submit queues u; done runs after its handler (or when it is dropped: then
// handled is false). It blocks while the queue is full.
func (b *Bot) submit(ctx context.Context, st *runState, u *tg.Update, done func(handled bool)) error {
	key, unordered := laneKey(u)
	return st.pool.Submit(ctx, key, unordered, func(taskCtx context.Context) {
		if taskCtx.Err() != nil {
			done(false) // dropped at stop: never ran
			return
		}
		b.handle(taskCtx, st, u)
		// Cancelled by the end of the drain period: it did not finish,
		// so it is not confirmed and comes again after a restart.
		done(taskCtx.Err() == nil)
	})
}

// handle routes u and runs its handler with its timeout, labels, panic
// recovery and error reporting. Updates no route takes (and commands
// addressed to other bots) count as handled with route "".
func (b *Bot) handle(ctx context.Context, st *runState, u *tg.Update) {
	start := time.Now()
	b.handling.Add(1)
	defer b.handling.Add(-1)
	var name string
	var err error
	if h, ok := b.route(u, &name); ok {
		err = b.run(ctx, st, u, name, h)
	}
	d := time.Since(start)
	b.cfg.metrics.UpdateHandled(u.Kind(), name, d, err)
	if hk := b.cfg.hooks.Handled; hk != nil {
		hk(u, name, d, err)
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

// run runs h for u under the handler's labels and timeout; it reports the
// error (or recovered panic) and hands the update to the leak check.
func (b *Bot) run(ctx context.Context, st *runState, u *tg.Update, name string, h Handler) (err error) {
	hctx, cancel := context.WithTimeout(ctx, b.cfg.handlerTimeout)
	defer cancel()
	chat := ""
	if c := u.Chat(); c != nil {
		chat = strconv.FormatInt(c.ID, 10)
	}
	pprof.Do(hctx, pprof.Labels(LabelBot, b.id, LabelComponent, "handler", LabelHandler, name,
		LabelUpdateID, strconv.FormatInt(u.UpdateID, 10), LabelChatID, chat), func(lctx context.Context) {
		c := router.NewContext(lctx, u, b.client, name, st.bg.spawner(lctx))
		if err = b.call(c, h); err != nil {
			if b.cfg.errorHandler != nil {
				b.cfg.errorHandler(c, err)
			} else {
				b.log.Error("tidygram: handler failed", "handler", name, "update_id", u.UpdateID, "error", err)
			}
		}
	})
	if b.survivors != nil {
		b.survivors.Ended(u.UpdateID, name)
	}
	return err
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
