// Package observe defines the one interface through which a bot reports
// everything it does: updates received and handled, Bot API calls,
// flood-control waits and retries, poll failures, goroutines leaked by a
// handler or left by an abandoned one, growth alarms, and response bodies
// dropped without Close — plus the live values (queue depth, handlers in
// flight, open connections, session entries) a metrics system pulls.
//
// observe owns no goroutine and no state; it never blocks the bot. The
// default Observer logs with log/slog (Log); package ops implements it with
// Prometheus metrics; Multi combines several. Label values an
// implementation derives come from code (update kinds, route names,
// method names the Bot API defines), never from users.
package observe

import (
	"context"
	"log/slog"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// Observer receives what a bot reports. Every method must be fast, must not
// block and must be safe for concurrent use: they are called on the bot's
// hot paths. Embed Nop to implement only some of them.
type Observer interface {
	// Start is called when Run starts, before any other report of that
	// run, with the running bot's live state.
	Start(s State)
	// UpdateReceived: an update was taken from a source; duplicate when
	// it was recognised as one already in hand or handled. (A poll skips
	// the updates it already holds by their id without decoding them;
	// those are not reported.)
	UpdateReceived(u *tg.Update, duplicate bool)
	// UpdateHandled: an update's handler ended (route "" when no route took
	// it) after d; err is its error, a panic (*tidygram.PanicError) or,
	// for an abandoned handler, *tidygram.AbandonedError.
	UpdateHandled(u *tg.Update, route string, d time.Duration, err error)
	// APICall: a Bot API call of method ended after d with err.
	APICall(method string, d time.Duration, err error)
	// PollFailed: a getUpdates call failed; the next comes after retryIn.
	PollFailed(err error, retryIn time.Duration)
	// LimiterWaited: a call of method waited d for flood control.
	LimiterWaited(method string, d time.Duration)
	// LimiterRetrying: a call of method failed with err and is repeated
	// after wait.
	LimiterRetrying(method string, wait time.Duration, err error)
	// Leaked: goroutines outlived the update whose handler started them.
	Leaked(r leak.Report)
	// HandlerAbandoned: a handler ran past its timeout and grace and was
	// abandoned; r lists its goroutines at that moment.
	HandlerAbandoned(r leak.Report, ran time.Duration)
	// Alarm: sustained growth of a resource (leak.Watchdog).
	Alarm(a leak.Alarm)
	// BodyUnclosed: a response body was garbage-collected without Close.
	BodyUnclosed(u leak.Unclosed)
}

// State is a running bot's live state; each func may be called at any
// time and from any goroutine (a nil one reads as 0, or ready).
type State struct {
	QueueDepth     func() int // updates queued or running
	InFlight       func() int // handlers running now
	OpenConns      func() int // open connections to the Bot API
	SessionEntries func() int // entries of the session store (WithJanitor)
	// Ready reports whether the bot can serve: Run has started and, for
	// webhooks, Telegram reports no recent delivery error.
	Ready func(ctx context.Context) error
	// Spool reads the counters of the bot's spool (tidygram.WithSpool);
	// nil without a spool, or when the spool reports none.
	Spool func() spool.Stats
	// IdleConns is how many idle keep-alive connections the bot's client
	// keeps (goroutine reports count that many pool goroutines as normal).
	IdleConns int
	// Routes are the bot's routes and their handler functions, as frozen
	// when Run started (a profile names functions; this names routes).
	Routes []router.Route
}

// Nop implements Observer and does nothing; embed it to implement part.
type Nop struct{}

func (Nop) Start(State)                                            {}
func (Nop) UpdateReceived(*tg.Update, bool)                        {}
func (Nop) UpdateHandled(*tg.Update, string, time.Duration, error) {}
func (Nop) APICall(string, time.Duration, error)                   {}
func (Nop) PollFailed(error, time.Duration)                        {}
func (Nop) LimiterWaited(string, time.Duration)                    {}
func (Nop) LimiterRetrying(string, time.Duration, error)           {}
func (Nop) Leaked(leak.Report)                                     {}
func (Nop) HandlerAbandoned(leak.Report, time.Duration)            {}
func (Nop) Alarm(leak.Alarm)                                       {}
func (Nop) BodyUnclosed(leak.Unclosed)                             {}

// Log returns the default Observer: it logs with l (slog.Default() when
// nil) what needs an operator's eye — leaks, abandoned handlers, growth
// alarms, dropped bodies at warning or error level, failed polls at
// warning level — and nothing per update.
func Log(l *slog.Logger) Observer {
	if l == nil {
		l = slog.Default()
	}
	return &logObserver{l: l}
}

type logObserver struct {
	Nop
	l *slog.Logger
}

func (o *logObserver) PollFailed(err error, retryIn time.Duration) {
	o.l.Warn("tidygram: getUpdates failed", "error", err, "retry_in", retryIn)
}

func (o *logObserver) Leaked(r leak.Report) {
	o.l.Warn("tidygram: goroutines outlived their update", "handler", r.Handler, "update_id", r.UpdateID, "count", r.Count, "report", r.String())
}

func (o *logObserver) HandlerAbandoned(r leak.Report, ran time.Duration) {
	o.l.Error("tidygram: handler abandoned: still running past its timeout; update confirmed as failed, worker replaced",
		"handler", r.Handler, "update_id", r.UpdateID, "chat_id", r.ChatID, "ran", ran.Round(time.Millisecond),
		"goroutines", r.Count, "report", leak.Format(r.Groups))
}

func (o *logObserver) Alarm(a leak.Alarm) {
	o.l.Warn("tidygram: sustained growth", "alarm", a.String())
}

func (o *logObserver) BodyUnclosed(u leak.Unclosed) {
	o.l.Warn("tidygram: response body dropped without Close", "body", u.String())
}

// Multi returns an Observer that passes everything to each of obs in
// order (nil entries are skipped).
func Multi(obs ...Observer) Observer {
	var m multi
	for _, o := range obs {
		switch o := o.(type) {
		case nil:
		case *multi:
			m = append(m, *o...)
		default:
			m = append(m, o)
		}
	}
	if len(m) == 1 {
		return m[0]
	}
	return &m
}

// multi and logObserver have pointer receivers: an Observer holding a
// value type links both its methods and their pointer wrappers.
type multi []Observer

func (m *multi) Start(s State) {
	for _, o := range *m {
		o.Start(s)
	}
}

func (m *multi) UpdateReceived(u *tg.Update, dup bool) {
	for _, o := range *m {
		o.UpdateReceived(u, dup)
	}
}

func (m *multi) UpdateHandled(u *tg.Update, route string, d time.Duration, err error) {
	for _, o := range *m {
		o.UpdateHandled(u, route, d, err)
	}
}

func (m *multi) APICall(method string, d time.Duration, err error) {
	for _, o := range *m {
		o.APICall(method, d, err)
	}
}

func (m *multi) PollFailed(err error, retryIn time.Duration) {
	for _, o := range *m {
		o.PollFailed(err, retryIn)
	}
}

func (m *multi) LimiterWaited(method string, d time.Duration) {
	for _, o := range *m {
		o.LimiterWaited(method, d)
	}
}

func (m *multi) LimiterRetrying(method string, wait time.Duration, err error) {
	for _, o := range *m {
		o.LimiterRetrying(method, wait, err)
	}
}

func (m *multi) Leaked(r leak.Report) {
	for _, o := range *m {
		o.Leaked(r)
	}
}

func (m *multi) HandlerAbandoned(r leak.Report, ran time.Duration) {
	for _, o := range *m {
		o.HandlerAbandoned(r, ran)
	}
}

func (m *multi) Alarm(a leak.Alarm) {
	for _, o := range *m {
		o.Alarm(a)
	}
}

func (m *multi) BodyUnclosed(u leak.Unclosed) {
	for _, o := range *m {
		o.BodyUnclosed(u)
	}
}

// APIMiddleware returns client middleware that reports every Bot API call
// to o (method, duration, error).
func APIMiddleware(o Observer) tg.Middleware {
	return func(next tg.Invoker) tg.Invoker {
		return func(ctx context.Context, method string, params, result any) error {
			start := time.Now()
			err := next(ctx, method, params, result)
			o.APICall(method, time.Since(start), err)
			return err
		}
	}
}
