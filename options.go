package tidygram

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tidygram/tidygram/dispatch"
	"github.com/tidygram/tidygram/internal/poller"
	"github.com/tidygram/tidygram/internal/webhook"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// Defaults of a Bot, in one place. Every bound of the runtime has one; each
// can be changed with the option named beside it. New validates every
// option: a value out of range or a conflicting combination is an error
// (*OptionError), never silently clamped or ignored.
const (
	DefaultWorkers         = 16                     // WithWorkers: handler goroutines (with WithWebhook: as many as Telegram's connections, 40 unless MaxConnections says)
	DefaultQueueSize       = 1024                   // WithQueueSize: updates queued or running
	DefaultHandlerTimeout  = 30 * time.Second       // WithHandlerTimeout: per handler run
	DefaultAbandonGrace    = 5 * time.Second        // WithAbandonGrace: after the timeout, before a handler still running is abandoned
	DefaultDrainTimeout    = 10 * time.Second       // WithDrainTimeout: after cancel, for queued and running handlers
	DefaultPollTimeout     = 30 * time.Second       // WithPollTimeout: getUpdates long-poll timeout
	DefaultPollLimit       = 100                    // WithPollLimit: getUpdates limit (Telegram's maximum)
	DefaultBackoffMin      = 100 * time.Millisecond // WithBackoff: first delay after a failed poll
	DefaultBackoffMax      = 30 * time.Second       // WithBackoff: longest delay after failed polls
	DefaultLeftoverTimeout = 2 * time.Second        // WithLeftoverWait: how long Run waits for its goroutines to end after stop
	DefaultMaxWebhookBody  = 1 << 20                // WebhookConfig.MaxBodyBytes: 1 MiB, far above any real update
	DefaultBodyTimeout     = 10 * time.Second       // WebhookConfig.BodyTimeout: to read a request's whole body
	DefaultMaxOpenConns    = 256                    // WebhookConfig.MaxOpenConns: owned server's open connections (Telegram opens at most 100)
	DefaultDedupeWindow    = 10 * time.Minute       // webhook: how long a handled update_id is remembered
	DefaultDedupeCapacity  = 100_000                // webhook: at most this many remembered ids
	// The per-update leak check's grace is leak.DefaultGrace (30 s,
	// WithLeakCheck); flood control's limits are package limit's defaults.
)

// StopGrace is how long handlers get to return after their contexts were
// cancelled at the end of the drain period; those that do not are
// abandoned (their updates stay unconfirmed) and Run goes on stopping.
const StopGrace = dispatch.DefaultStopGrace

// ConfirmTimeout bounds the final confirmation of handled updates at stop
// (polling).
const ConfirmTimeout = poller.ConfirmTimeout

// Option configures a Bot. Options are applied in order by New; an option
// given an invalid value makes New fail with an *OptionError.
type Option func(*config) error

// OptionError is New's error for an invalid option or combination.
type OptionError struct {
	Option string // the option, e.g. "WithWorkers"
	Reason string
	// Err is the error of the sub-package constructor that refused the
	// option's value (a *limit.OptionError, *leak.OptionError or
	// *dispatch.ConfigError), or nil. Unwrap returns it.
	Err error
}

func (e *OptionError) Error() string { return "tidygram: " + e.Option + ": " + e.Reason }

// Unwrap returns Err.
func (e *OptionError) Unwrap() error { return e.Err }

// wrapErr is the *OptionError of option for a sub-package's error.
func wrapErr(option string, err error) error {
	return &OptionError{Option: option, Reason: err.Error(), Err: err}
}

func optErr(option, format string, args ...any) error {
	return &OptionError{Option: option, Reason: fmt.Sprintf(format, args...)}
}

type config struct {
	clientOpts     []tg.Option
	client         *tg.Client
	workers        int
	workersSet     bool // WithWorkers given
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
	serveWebhook   func(*webhook.Receiver, context.Context, webhook.ServerConfig, func(context.Context) error) error // set by WithWebhook with an Addr
	errorHandler   func(c *Context, err error)
	strictLeaks    bool
	leftoverWait   time.Duration
	services       []Service
	flood          *limit.Control
	floodSet       bool          // WithFloodControl or WithoutFloodControl given
	floodGiven     bool          // WithFloodControl given
	noFlood        bool          // WithoutFloodControl given
	leakGrace      time.Duration // WithLeakCheck given when > 0
	noLeakCheck    bool
	pollingOpts    []string // polling-only options given (WithPollTimeout, …)
	observers      []observe.Observer
	watchdog       bool
	watchdogOpts   []leak.WatchdogOption
	sessionLen     func() int
	spool          spool.Spool
	albumWait      time.Duration // albums collected when > 0 (WithAlbums, OnAlbum)
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
	}
}

// telegramWebhookConns is how many connections Telegram opens to a
// webhook when setWebhook's max_connections is not given.
const telegramWebhookConns = 40

// check validates the combination of options (and sets the defaults
// that depend on others).
func (c *config) check() error {
	if c.webhook != nil && !c.workersSet {
		c.workers = max(c.workers, int(cmp.Or(c.webhook.MaxConnections, telegramWebhookConns)))
	}
	if c.queueSize < c.workers {
		return optErr("WithQueueSize", "%d is below the %d workers: at least one slot per worker", c.queueSize, c.workers)
	}
	if c.backoffMin > c.backoffMax {
		return optErr("WithBackoff", "min %v above max %v", c.backoffMin, c.backoffMax)
	}
	if c.client != nil && (c.floodSet || len(c.clientOpts) > 0) {
		return optErr("WithClient", "the client is yours, with its own middleware: WithClientOptions, WithBaseURL and WithFloodControl cannot apply to it")
	}
	if c.floodGiven && c.noFlood {
		return optErr("WithoutFloodControl", "cannot be combined with WithFloodControl")
	}
	if c.leakGrace > 0 && c.noLeakCheck {
		return optErr("WithoutLeakCheck", "cannot be combined with WithLeakCheck")
	}
	if c.webhook != nil {
		if err := c.webhook.check(); err != nil {
			return err
		}
		if c.atMostOnce {
			return optErr("WithAtMostOnce", "applies to polling only: WithWebhook ignores it; for webhooks set WebhookConfig.AckImmediately")
		}
		if err := c.checkPollingOnly(); err != nil {
			return err
		}
	}
	return c.checkSpool()
}

// checkPollingOnly rejects, with WithWebhook, the options only polling
// reads: WithPollTimeout and WithPollLimit always; WithBackoff unless a
// spool (whose puts are retried with it) is set; WithAllowedUpdates
// unless WebhookConfig.URL is (setWebhook sends it).
func (c *config) checkPollingOnly() error {
	for _, name := range c.pollingOpts {
		switch {
		case name == "WithBackoff" && c.spool != nil:
		case name == "WithAllowedUpdates" && c.webhook.URL != "":
		case name == "WithAllowedUpdates":
			return optErr(name, "with WithWebhook it is sent only by setWebhook: set WebhookConfig.URL, or drop the option")
		default:
			return optErr(name, "applies to polling only: WithWebhook ignores it")
		}
	}
	return nil
}

// polling records that the polling-only option name was given.
func (c *config) polling(name string) {
	if !slices.Contains(c.pollingOpts, name) {
		c.pollingOpts = append(c.pollingOpts, name)
	}
}

// WithClientOptions passes options to the Bot API client the bot creates
// (base URL, middleware, response caps, …). The bot adds its own keep-alive
// sizing (one idle connection per worker, plus the poller).
func WithClientOptions(opts ...tg.Option) Option {
	return func(c *config) error { c.clientOpts = append(c.clientOpts, opts...); return nil }
}

// WithBaseURL sets the Bot API base URL (the emulator, a local Bot API
// server). Default https://api.telegram.org.
func WithBaseURL(url string) Option { return WithClientOptions(tg.WithBaseURL(url)) }

// WithClient makes the bot use client instead of creating its own; the
// caller owns it and closes it. The client's middleware is the caller's:
// the bot installs neither flood control nor API-call observation on it
// (add limit's and observe.APIMiddleware yourself when you build it), and
// New fails if WithClientOptions, WithBaseURL, WithFloodControl or
// WithoutFloodControl are given too.
//
// The client carries its own token: New's token argument is then not
// used to call the Bot API (tg.Client does not expose its token, so the
// two cannot be compared). It must still not be empty: New("",
// WithClient(c)) is an *OptionError, as New("") is an error without it.
// Pass the client's token.
func WithClient(client *tg.Client) Option {
	return func(c *config) error {
		if client == nil {
			return optErr("WithClient", "nil client")
		}
		c.client = client
		return nil
	}
}

// WithWorkers sets the number of handler workers (default 16, at least
// 1). Handlers of one chat run one at a time; at most n handlers run at
// once. With WithWebhook the default is the number of connections
// Telegram opens (WebhookConfig.MaxConnections, 40 by default) when that
// is more, so that every request it has in flight is being handled.
// Workers start on demand and stop when idle.
func WithWorkers(n int) Option {
	set := atLeast("WithWorkers", n, 1, func(c *config) *int { return &c.workers })
	return func(c *config) error { c.workersSet = true; return set(c) }
}

// WithQueueSize bounds the updates queued or running (default 1024, at
// least the number of workers). When it is reached the source waits: the
// poller polls later, the webhook answers later (and 503 if Telegram gives
// up first).
func WithQueueSize(n int) Option {
	return atLeast("WithQueueSize", n, 1, func(c *config) *int { return &c.queueSize })
}

// atLeast returns the option named name that sets *field to v, refusing a
// v below min.
func atLeast[T int | time.Duration](name string, v, min T, field func(*config) *T) Option {
	return func(c *config) error {
		if v < min {
			return optErr(name, "%v: must be at least %v", v, min)
		}
		*field(c) = v
		return nil
	}
}

// WithHandlerTimeout sets the deadline of each handler run (default 30 s;
// must be positive): the handler's context ends at most d after the
// handler started and at least d - d/64 after (updates a worker starts
// within d/64 of each other share one deadline and its timer).
func WithHandlerTimeout(d time.Duration) Option {
	return atLeast("WithHandlerTimeout", d, time.Nanosecond, func(c *config) *time.Duration { return &c.handlerTimeout })
}

// WithAbandonGrace sets how long a handler may go on after its
// HandlerTimeout expired before it is abandoned (default 5 s, ≥ 0): its
// update is then reported (log, observer, error handler with
// *AbandonedError naming the handler, update, chat and where its
// goroutines are blocked), counted as failed and confirmed; its worker is
// replaced and the chat's next update starts. The goroutine itself cannot
// be stopped: it is left to end by itself and, if it outlives Run, is in
// Run's leak report.
func WithAbandonGrace(d time.Duration) Option {
	return atLeast("WithAbandonGrace", d, 0, func(c *config) *time.Duration { return &c.abandonGrace })
}

// WithDrainTimeout sets how long Run lets queued and running handlers finish
// after its context is cancelled (default 10 s, ≥ 0); then their contexts
// are cancelled and updates not yet started stay unconfirmed for
// redelivery.
func WithDrainTimeout(d time.Duration) Option {
	return atLeast("WithDrainTimeout", d, 0, func(c *config) *time.Duration { return &c.drainTimeout })
}

// WithPollTimeout sets the long-poll timeout of getUpdates: whole seconds,
// at least 1 (default 30 s). Cancelling Run's context aborts a pending poll
// at once whatever this is. A poll that gets no answer at all (a connection
// silently dropped on the way) is given up 3 s after the timeout, so such a
// fault stops delivery for at most the timeout + 3 s (33 s by default).
// Polling only: with WithWebhook, New fails.
func WithPollTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d%time.Second != 0 {
			return optErr("WithPollTimeout", "%v: whole seconds, at least 1 s (Telegram takes seconds)", d)
		}
		c.pollTimeout = d
		c.polling("WithPollTimeout")
		return nil
	}
}

// WithPollLimit sets getUpdates' limit, 1–100 (default 100). It is also the
// bound of updates in flight beyond the watermark (see Run). Polling only:
// with WithWebhook, New fails.
func WithPollLimit(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 100 {
			return optErr("WithPollLimit", "%d: Telegram takes 1–100", n)
		}
		c.pollLimit = n
		c.polling("WithPollLimit")
		return nil
	}
}

// WithAllowedUpdates sets getUpdates' (or setWebhook's) allowed_updates;
// each kind must be one of tg.UpdateKinds. Default: not sent, so Telegram
// keeps its previous setting. With WithWebhook only setWebhook sends it,
// so New fails unless WebhookConfig.URL is set.
func WithAllowedUpdates(kinds ...string) Option {
	return func(c *config) error {
		for _, k := range kinds {
			if !slices.Contains(tg.UpdateKinds(), k) {
				return optErr("WithAllowedUpdates", "%q is not an update kind of the Bot API", k)
			}
		}
		c.allowedUpdates = append([]string{}, kinds...)
		c.polling("WithAllowedUpdates")
		return nil
	}
}

// WithAtMostOnce confirms polled updates to Telegram as soon as they are
// received instead of after they are handled. A crash then loses the
// updates in flight instead of redelivering them; choose it only when a
// duplicate is worse than a loss. Polling only: with WithWebhook New
// fails (for webhooks set WebhookConfig.AckImmediately).
func WithAtMostOnce() Option { return func(c *config) error { c.atMostOnce = true; return nil } }

// WithBackoff sets the poller's retry delays after an error: from min,
// doubling with jitter, capped at max (defaults 100 ms and 30 s; 0 < min ≤
// max). A 429 waits Telegram's retry_after instead. With WithSpool it also
// spaces the retries of a failed put. With WithWebhook and no spool
// nothing reads it, and New fails.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) error {
		if min <= 0 {
			return optErr("WithBackoff", "min %v: must be positive", min)
		}
		c.backoffMin, c.backoffMax = min, max
		c.polling("WithBackoff")
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()). The default
// observer logs leaks, abandoned handlers, alarms and failed polls with it.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return optErr("WithLogger", "nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithErrorHandler sets the function that receives every handler error,
// recovered panic (*PanicError) and abandoned handler (*AbandonedError).
// Default: log it with the update_id.
func WithErrorHandler(h func(c *Context, err error)) Option {
	return func(c *config) error { c.errorHandler = h; return nil }
}

// WithStrictLeaks makes Run return a *LeakError when goroutines it (or its
// handlers) started are still alive after it stopped. Default: they are
// logged, grouped by owner, and Run returns nil.
func WithStrictLeaks() Option { return func(c *config) error { c.strictLeaks = true; return nil } }

// WithLeftoverWait sets how long Run waits for its goroutines to end before
// it reports the survivors (default 2 s, ≥ 0).
func WithLeftoverWait(d time.Duration) Option {
	return atLeast("WithLeftoverWait", d, 0, func(c *config) *time.Duration { return &c.leftoverWait })
}

// WithFloodControl sets the flood limiter and retry middleware the bot
// installs on its client; nil selects the default, limit.New() reporting
// to the bot's observer — Telegram's limits (about 30 messages/s per bot,
// 1/s per chat with bursts of 3, 20/min per group), 429 retry_after
// honoured, safe retries only; see package limit. It is on by default.
// Combined with WithoutFloodControl or WithClient, New fails.
func WithFloodControl(ctl *limit.Control) Option {
	return func(c *config) error { c.flood, c.floodGiven, c.floodSet = ctl, true, true; return nil }
}

// WithoutFloodControl sends every call at once, with no limiter and no
// retry (benchmarks against a server without limits, or a limiter of your
// own installed with WithClientOptions(tg.WithMiddleware(...))). Combined
// with WithFloodControl or WithClient, New fails.
func WithoutFloodControl() Option {
	return func(c *config) error { c.noFlood, c.floodSet = true, true; return nil }
}

var errNilObserver = errors.New("nil observer")

// WithObserver adds o to the observers of everything the bot reports:
// updates received and handled, API calls, flood-control waits and
// retries, failed polls, leaks, abandoned handlers, growth alarms, dropped
// response bodies, and its live state (see observe.Observer). The default
// observer, always first, logs what needs an operator's eye with the bot's
// logger (observe.Log). ops.NewMetrics() is the Prometheus one.
func WithObserver(o observe.Observer) Option {
	return func(c *config) error {
		if o == nil {
			return optErr("WithObserver", "%v", errNilObserver)
		}
		c.observers = append(c.observers, o)
		return nil
	}
}

// Options combines opts into one Option (for packages that configure a
// bot in several respects, such as ops.ForBot).
func Options(opts ...Option) Option {
	return func(c *config) error {
		for _, o := range opts {
			if err := o(c); err != nil {
				return err
			}
		}
		return nil
	}
}
