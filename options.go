package tidygram

import (
	"log/slog"
	"time"

	"github.com/tidygram/tidygram/dispatch"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/ops"
	"github.com/tidygram/tidygram/tg"
)

// Defaults of a Bot. Every bound of the runtime has one; each can be changed
// with the option of the same name.
const (
	DefaultWorkers         = 16               // handler goroutines
	DefaultQueueSize       = 1024             // updates queued or running
	DefaultHandlerTimeout  = 30 * time.Second // per handler run
	DefaultDrainTimeout    = 10 * time.Second // after cancel, for queued and running handlers
	DefaultPollTimeout     = 30 * time.Second // getUpdates long-poll timeout
	DefaultPollLimit       = 100              // getUpdates limit (Telegram's maximum)
	DefaultMaxWebhookBody  = 1 << 20          // 1 MiB: far above any real update
	DefaultBodyTimeout     = 10 * time.Second // webhook: to read a request's whole body
	DefaultMaxOpenConns    = 256              // webhook, owned server: connections open at once (Telegram opens at most 100)
	DefaultDedupeWindow    = 10 * time.Minute // webhook: how long a handled update_id is remembered
	DefaultDedupeCapacity  = 100_000          // webhook: at most this many remembered ids
	DefaultBackoffMin      = 100 * time.Millisecond
	DefaultBackoffMax      = 30 * time.Second
	DefaultLeftoverTimeout = 2 * time.Second // how long Run waits for its goroutines to end after stop
	DefaultAbandonGrace    = 5 * time.Second // after HandlerTimeout, before a handler still running is abandoned
)

// StopGrace is how long handlers get to return after their contexts were
// cancelled at the end of the drain period; those that do not are
// abandoned (their updates stay unconfirmed) and Run goes on stopping.
const StopGrace = dispatch.DefaultStopGrace

// Option configures a Bot.
type Option func(*config)

type config struct {
	clientOpts     []tg.Option
	client         *tg.Client
	workers        int
	queueSize      int
	handlerTimeout time.Duration
	abandonGrace   time.Duration
	drainTimeout   time.Duration
	pollTimeout    time.Duration
	pollLimit      int
	allowedUpdates []string
	atMostOnce     bool
	backoffMin     time.Duration
	backoffMax     time.Duration
	logger         *slog.Logger
	webhook        *WebhookConfig
	errorHandler   func(c *Context, err error)
	strictLeaks    bool
	leftoverWait   time.Duration
	labels         bool
	hooks          Hooks
	services       []Service
	flood          *limit.Control
	noFlood        bool
	leakGrace      time.Duration
	noLeakCheck    bool
	leakReport     func(leak.Report)
	metrics        *ops.Metrics
	ops            bool
	opsOpts        []ops.Option
	watchdog       bool
	watchdogOpts   []leak.WatchdogOption
	onAlarm        func(leak.Alarm)
	sessionLen     func() int
}

func defaults() config {
	return config{
		workers:        DefaultWorkers,
		queueSize:      DefaultQueueSize,
		handlerTimeout: DefaultHandlerTimeout,
		abandonGrace:   DefaultAbandonGrace,
		drainTimeout:   DefaultDrainTimeout,
		pollTimeout:    DefaultPollTimeout,
		pollLimit:      DefaultPollLimit,
		backoffMin:     DefaultBackoffMin,
		backoffMax:     DefaultBackoffMax,
		leftoverWait:   DefaultLeftoverTimeout,
		labels:         true,
	}
}

// WithClientOptions passes options to the Bot API client the bot creates
// (base URL, middleware, response caps, …). The bot adds its own keep-alive
// sizing (one idle connection per worker, plus the poller).
func WithClientOptions(opts ...tg.Option) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// WithBaseURL sets the Bot API base URL (the emulator, a local Bot API
// server). Default https://api.telegram.org.
func WithBaseURL(url string) Option { return WithClientOptions(tg.WithBaseURL(url)) }

// WithClient makes the bot use client instead of creating its own; the
// caller then owns it and closes it.
func WithClient(client *tg.Client) Option { return func(c *config) { c.client = client } }

// WithWorkers sets the number of handler workers (default 16). Handlers of
// one chat run one at a time; at most n handlers run at once.
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithQueueSize bounds the updates queued or running (default 1024). When it
// is reached the source waits: the poller polls later, the webhook answers
// later (and 503 if Telegram gives up first).
func WithQueueSize(n int) Option { return func(c *config) { c.queueSize = n } }

// WithHandlerTimeout sets the deadline of each handler run (default 30 s).
func WithHandlerTimeout(d time.Duration) Option { return func(c *config) { c.handlerTimeout = d } }

// WithAbandonGrace sets how long a handler may go on after its
// HandlerTimeout expired before it is abandoned (default 5 s): its update
// is then reported (log, leak metric, error handler with *AbandonedError
// naming the handler, update, chat and where its goroutines are blocked),
// counted as failed and confirmed; its worker is replaced and the chat's
// next update starts. The goroutine itself cannot be stopped: it is left
// to end by itself and, if it outlives Run, is in Run's leak report.
func WithAbandonGrace(d time.Duration) Option { return func(c *config) { c.abandonGrace = d } }

// WithDrainTimeout sets how long Run lets queued and running handlers finish
// after its context is cancelled (default 10 s); then their contexts are
// cancelled and updates not yet started stay unconfirmed for redelivery.
func WithDrainTimeout(d time.Duration) Option { return func(c *config) { c.drainTimeout = d } }

// WithPollTimeout sets the long-poll timeout of getUpdates (default 30 s,
// rounded down to whole seconds; at least 1 s). Cancelling Run's context
// aborts a pending poll at once whatever this is.
func WithPollTimeout(d time.Duration) Option { return func(c *config) { c.pollTimeout = d } }

// WithPollLimit sets getUpdates' limit, 1–100 (default 100). It is also the
// bound of updates in flight beyond the watermark (see Run).
func WithPollLimit(n int) Option { return func(c *config) { c.pollLimit = n } }

// WithAllowedUpdates sets getUpdates' (or setWebhook's) allowed_updates.
// Default: not sent, so Telegram keeps its previous setting.
func WithAllowedUpdates(kinds ...string) Option {
	return func(c *config) { c.allowedUpdates = append([]string{}, kinds...) }
}

// WithAtMostOnce confirms updates to Telegram as soon as they are received
// instead of after they are handled. A crash then loses the updates in
// flight instead of redelivering them; choose it only when a duplicate is
// worse than a loss.
func WithAtMostOnce() Option { return func(c *config) { c.atMostOnce = true } }

// WithBackoff sets the poller's retry delays after an error: from min,
// doubling with jitter, capped at max (defaults 100 ms and 30 s). A 429
// waits Telegram's retry_after instead.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) { c.backoffMin, c.backoffMax = min, max }
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithErrorHandler sets the function that receives every handler error and
// recovered panic (*PanicError). Default: log it with the update_id.
func WithErrorHandler(h func(c *Context, err error)) Option {
	return func(c *config) { c.errorHandler = h }
}

// WithStrictLeaks makes Run return a *LeakError when goroutines it (or its
// handlers) started are still alive after it stopped. Default: they are
// logged, grouped by owner, and Run returns nil.
func WithStrictLeaks() Option { return func(c *config) { c.strictLeaks = true } }

// WithLeftoverWait sets how long Run waits for its goroutines to end before
// it reports the survivors (default 2 s).
func WithLeftoverWait(d time.Duration) Option { return func(c *config) { c.leftoverWait = d } }

// WithFloodControl sets the flood limiter and retry middleware the bot
// installs on its client; nil selects the default, limit.New() with the
// bot's metrics observer — Telegram's limits (about 30 messages/s per bot,
// 1/s per chat with bursts of 3, 20/min per group), 429 retry_after
// honoured, safe retries only; see package limit.
func WithFloodControl(ctl *limit.Control) Option {
	return func(c *config) { c.flood, c.noFlood = ctl, false }
}

// WithoutFloodControl sends every call at once, with no limiter and no
// retry (benchmarks against a server without limits, or a limiter of your
// own installed with WithClientOptions(tg.WithMiddleware(...))).
func WithoutFloodControl() Option { return func(c *config) { c.flood, c.noFlood = nil, true } }

// WithHooks sets observation hooks (metrics, tests).
func WithHooks(h Hooks) Option { return func(c *config) { c.hooks = h } }

// Hooks observe the runtime. Each is optional and must be fast and safe for
// concurrent use.
type Hooks struct {
	// Received is called for every update taken from a source, before
	// it is queued; duplicate reports whether it was recognised as one.
	Received func(u *tg.Update, duplicate bool)
	// Handled is called after an update's handler ended (err is the
	// handler's error or a *PanicError), with the run's duration.
	Handled func(u *tg.Update, route string, d time.Duration, err error)
	// PollError is called for each failed getUpdates with the delay
	// before the next attempt.
	PollError func(err error, wait time.Duration)
}
