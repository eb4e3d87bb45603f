package limit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/tidygram/tidygram/internal/opterr"
	"github.com/tidygram/tidygram/tg"
)

// Defaults of the Control's options.
const (
	// DefaultRetries is how many times a call is repeated at most.
	DefaultRetries = 3
	// DefaultBackoffMin and DefaultBackoffMax bound the wait before
	// repeating a call after a network error or a 5xx; it doubles from
	// min up to max, with jitter.
	DefaultBackoffMin = 200 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// DefaultMaxRetryAfter is the longest retry_after a call waits for
	// before repeating itself; longer ones return the 429 error (the chat
	// stays paused in the Limiter for the whole time).
	DefaultMaxRetryAfter = time.Minute
	// floodWindow: 429s for two different chats within it are taken as a
	// flood of the whole bot.
	floodWindow = time.Second
)

// Control is tidygram's outbound middleware: flood control before each
// call and retry after it. Install it on a tg.Client with
// tg.WithMiddleware(ctl.Middleware()).
//
// For each call, by method:
//
//   - getUpdates passes through untouched (the poller owns it).
//   - Counted methods (see Counts; WithCounted) with a chat_id are queued
//     per chat, first in, first out, and one call per chat is in flight at
//     a time, retries included, so messages to one chat keep their order.
//     Then the Limiter's Wait gives each attempt its turn. Calls to other
//     chats are not held back by a busy chat except through the global
//     rule.
//   - Every method but getUpdates is retried as follows.
//
// Retry, at most WithRetries times (default DefaultRetries):
//
//   - 429 Too Many Requests: Telegram did not perform the call. For a
//     counted method the Limiter pauses the chat for retry_after (all
//     chats when the call has no chat, or when two different chats got a
//     429 within a second: a flood of the whole bot). The call waits
//     retry_after (a second if absent; at most WithMaxRetryAfter, else the
//     429 is returned) and is repeated.
//   - *tg.NetworkError with NotSent (dial, DNS or TLS failure): the request
//     never left, so it is repeated after a backoff with jitter.
//   - Outcomes that may have been performed, a *tg.NetworkError without
//     NotSent (a timeout or reset after the request was written), a 5xx
//     answer, or a *tg.ResponseError (a proxy's error page, a cut or
//     malformed answer; not one over the size cap): repeated only when the method is idempotent (see Idempotent;
//     WithIdempotent) or WithRetryUnsure is set, since a send may then be
//     delivered twice.
//   - Other errors (400, 401, 403, 404, 409, bad params) are returned.
//   - A call that uploads a file (a tg.InputFile with IsUpload) is never
//     repeated nor re-sent: a FileReader is read once, and may have been
//     partly read even when the connection failed.
//   - 400 with migrate_to_chat_id (a group became a supergroup): the
//     *tg.APIError carries MigrateToChatID; with WithMigrate the call
//     (unless it uploads) is sent again, once, to the new chat (see
//     Retarget).
//
// A call's ctx bounds all of it: queueing, waiting for a turn, backoffs
// and retry_after. When ctx ends during a wait, the call returns at once
// with an error that wraps ctx.Err() (and the last call error, if any).
//
// Control starts no goroutine; its memory is the Limiter's (bounded, see
// Local) and one lane per chat with a call in flight or queued.
type Control struct {
	lim           Limiter
	settler       Settler // lim, if it is one
	counts        func(string) bool
	idempotent    func(string) bool
	retries       int
	backoffMin    time.Duration
	backoffMax    time.Duration
	maxRetryAfter time.Duration
	retryUnsure   bool
	migrate       bool
	onMigrate     func(from, to tg.ChatID)

	lanes lanes
	stats counters

	observer Observer

	floodMu   sync.Mutex
	floodChat tg.ChatID
	floodAt   time.Time
}

// Option configures a Control (New). An option given a value it cannot
// use returns an *OptionError, which New returns: nothing is clamped or
// silently replaced by a default.
type Option func(*Control) error

// OptionError is the error of New and NewLocal for an option value they
// cannot use (Package "limit"). leak and session name the same type.
type OptionError = opterr.Error

// option returns an option of T named name: it refuses value with reason
// when bad, else calls set (see opterr.Check).
func option[T any](name string, value any, bad bool, reason string, set func(*T)) func(*T) error {
	return opterr.Check("limit", name, value, bad, reason, set)
}

// Observer receives a Control's events as they happen, for metrics that
// need each one (histograms, per-method counts); Stats has the totals.
// Its functions may be nil, must be quick and safe for concurrent use.
type Observer struct {
	// Waited: a call of method waited d for its chat's queue or its turn.
	Waited func(method string, d time.Duration)
	// Retrying: a call of method failed with err and is repeated after wait.
	Retrying func(method string, wait time.Duration, err error)
}

// WithObserver sets the Observer (default none; any value is valid).
func WithObserver(o Observer) Option { return func(c *Control) error { c.observer = o; return nil } }

// waited counts a wait and tells the observer.
func (c *Control) waited(method string, d time.Duration) {
	c.stats.waited(d)
	if f := c.observer.Waited; f != nil && d > 0 {
		f(method, d)
	}
}

// WithLimiter sets the Limiter (default NewLocal()). nil disables flood
// control; per-chat order and retries remain.
func WithLimiter(l Limiter) Option { return func(c *Control) error { c.lim = l; return nil } }

// WithCounted sets which methods go through the Limiter and per-chat
// queues (default Counts). A nil f is an *OptionError.
func WithCounted(f func(method string) bool) Option {
	return option("WithCounted", "nil", f == nil, "needs a func (Counts is the default)", func(c *Control) { c.counts = f })
}

// WithIdempotent sets which methods may be repeated when their outcome is
// unknown (default Idempotent). A nil f is an *OptionError.
func WithIdempotent(f func(method string) bool) Option {
	return option("WithIdempotent", "nil", f == nil, "needs a func (Idempotent is the default)",
		func(c *Control) { c.idempotent = f })
}

// WithRetries sets how many times a call is repeated at most (default
// DefaultRetries; ≥ 0, a negative n is an *OptionError); 0 turns retry
// off. Migration does not count.
func WithRetries(n int) Option {
	return option("WithRetries", n, n < 0, "must be at least 0 (0 turns retry off)", func(c *Control) { c.retries = n })
}

// WithBackoff sets the bounds of the backoff after network errors and
// 5xx answers (default DefaultBackoffMin, DefaultBackoffMax; 0 < minWait
// ≤ maxWait, else an *OptionError).
func WithBackoff(minWait, maxWait time.Duration) Option {
	return option("WithBackoff", fmt.Sprintf("%v, %v", minWait, maxWait), minWait <= 0 || maxWait < minWait,
		"needs 0 < min ≤ max", func(c *Control) { c.backoffMin, c.backoffMax = minWait, maxWait })
}

// WithMaxRetryAfter sets the longest retry_after a call waits for (default
// DefaultMaxRetryAfter; must be positive, else an *OptionError).
func WithMaxRetryAfter(d time.Duration) Option {
	return option("WithMaxRetryAfter", d, d <= 0, "must be positive", func(c *Control) { c.maxRetryAfter = d })
}

// WithRetryUnsure makes calls whose outcome is unknown be repeated for
// every method, not only idempotent ones: a message may then be delivered
// twice, but is less likely to be lost. Default off.
func WithRetryUnsure(on bool) Option {
	return func(c *Control) error { c.retryUnsure = on; return nil }
}

// WithMigrate makes a call that failed because its group became a
// supergroup be sent again to the supergroup (migrate_to_chat_id), and
// calls onMigrate (if not nil) with the old and new chat first, so that
// the bot can move its per-chat state (sessions, conversations). Default
// off: the *tg.APIError is returned with MigrateToChatID set.
func WithMigrate(onMigrate func(from, to tg.ChatID)) Option {
	return func(c *Control) error { c.migrate, c.onMigrate = true, onMigrate; return nil }
}

// New returns a Control with the defaults changed by opts. An option
// given a value it cannot use makes New fail with an *OptionError.
func New(opts ...Option) (*Control, error) {
	lim, err := NewLocal()
	if err != nil {
		return nil, err
	}
	c := &Control{
		lim:           lim,
		counts:        Counts,
		idempotent:    Idempotent,
		retries:       DefaultRetries,
		backoffMin:    DefaultBackoffMin,
		backoffMax:    DefaultBackoffMax,
		maxRetryAfter: DefaultMaxRetryAfter,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	c.settler, _ = c.lim.(Settler)
	return c, nil
}

// Middleware returns the Control as a tg.Middleware.
func (c *Control) Middleware() tg.Middleware {
	return func(next tg.Invoker) tg.Invoker {
		return func(ctx context.Context, method string, params, result any) error {
			return c.call(ctx, next, method, params, result)
		}
	}
}

// Limiter returns the Limiter the Control uses (nil when disabled).
func (c *Control) Limiter() Limiter { return c.lim }

func (c *Control) call(ctx context.Context, next tg.Invoker, method string, params, result any) error {
	if passThrough(method) {
		return next(ctx, method, params, result)
	}
	counted := c.counts(method)
	var chat tg.ChatID
	if ct, ok := params.(tg.ChatTargeter); ok {
		chat = ct.TargetChat()
	}
	if counted && !chat.IsZero() {
		start := time.Now()
		release, err := c.lanes.acquire(ctx, chat)
		c.waited(method, time.Since(start))
		if err != nil {
			return fmt.Errorf("limit: %s: waiting for chat %v: %w", method, chat, err)
		}
		defer release()
	}
	migrated := false
	for attempt := 0; ; attempt++ {
		if counted && c.lim != nil {
			start := time.Now()
			err := c.lim.Wait(ctx, chat)
			c.waited(method, time.Since(start))
			if err != nil {
				return fmt.Errorf("limit: %s: waiting for a turn: %w", method, err)
			}
		}
		c.stats.calls.Add(1)
		err := next(ctx, method, params, result)
		if counted && c.settler != nil {
			c.settler.Settled(chat)
		}
		if err == nil {
			return nil
		}
		var apiErr *tg.APIError
		if errors.As(err, &apiErr) && apiErr.MigrateToChatID != 0 && c.migrate && !migrated && !hasUpload(params) {
			to := tg.ID(apiErr.MigrateToChatID)
			if p, ok := Retarget(params, to); ok {
				c.stats.migrations.Add(1)
				if c.onMigrate != nil {
					c.onMigrate(chat, to)
				}
				params, chat, migrated = p, to, true
				attempt-- // the new chat gets the full number of retries
				continue
			}
		}
		wait, retry := c.classify(ctx, method, chat, counted, params, err, attempt)
		if !retry {
			return err
		}
		c.stats.retries.Add(1)
		if f := c.observer.Retrying; f != nil {
			f(method, wait, err)
		}
		if werr := sleep(ctx, wait); werr != nil {
			return fmt.Errorf("limit: %s: %w while waiting to retry after: %w", method, werr, err)
		}
	}
}

// classify decides whether err is retried and after how long.
func (c *Control) classify(ctx context.Context, method string, chat tg.ChatID, counted bool, params any, err error, attempt int) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	var (
		apiErr  *tg.APIError
		netErr  *tg.NetworkError
		respErr *tg.ResponseError
	)
	unsure := false // the call may have been performed
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode == http.StatusTooManyRequests:
		c.stats.floods.Add(1)
		wait := max(apiErr.RetryAfter, time.Second) // a 429 without retry_after: wait a second
		if counted && c.lim != nil {
			c.pause(chat, wait)
		}
		if wait > c.maxRetryAfter || attempt >= c.retries || hasUpload(params) {
			return 0, false
		}
		return wait, true
	case errors.As(err, &netErr):
		if !netErr.NotSent() {
			unsure = true
		}
	case errors.As(err, &apiErr):
		if apiErr.ErrorCode < 500 {
			return 0, false
		}
		unsure = true
	case errors.As(err, &respErr):
		if errors.Is(err, tg.ErrTooLarge) { // the same answer would come again
			return 0, false
		}
		unsure = true
	default:
		return 0, false
	}
	if attempt >= c.retries || hasUpload(params) {
		return 0, false
	}
	if unsure && !c.retryUnsure && !c.idempotent(method) {
		return 0, false
	}
	return c.backoff(attempt), true
}

// pause tells the Limiter about a 429: the chat is paused, and everything
// when the call has no chat or another chat got a 429 just before.
func (c *Control) pause(chat tg.ChatID, d time.Duration) {
	c.lim.Pause(chat, d)
	if chat.IsZero() {
		c.stats.globalPauses.Add(1)
		return
	}
	now := time.Now()
	c.floodMu.Lock()
	global := !c.floodChat.IsZero() && c.floodChat != chat && now.Sub(c.floodAt) < floodWindow
	c.floodChat, c.floodAt = chat, now
	c.floodMu.Unlock()
	if global {
		c.lim.Pause(tg.ChatID{}, d)
		c.stats.globalPauses.Add(1)
	}
}

// backoff returns the wait before retry number attempt+1: doubling from
// backoffMin, at most backoffMax, with "equal jitter" (half fixed, half
// random) so that many callers do not retry in step.
func (c *Control) backoff(attempt int) time.Duration {
	d := c.backoffMax
	if attempt < 30 {
		d = min(c.backoffMin<<attempt, c.backoffMax)
	}
	half := d / 2
	return half + rand.N(half+1)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Retargeter is implemented by params that can return a copy of
// themselves sent to another chat. Retarget prefers it to reflection.
type Retargeter interface {
	RetargetChat(to tg.ChatID) any
}

// Retarget returns a copy of params with its chat_id set to to, and
// whether it could: params implements Retargeter, or it is a struct, or a
// non-nil pointer to one, with an exported field ChatID of type tg.ChatID
// (every generated params type with a chat_id). The copy is shallow; the
// caller's params are not changed.
func Retarget(params any, to tg.ChatID) (any, bool) {
	if r, ok := params.(Retargeter); ok {
		return r.RetargetChat(to), true
	}
	v := reflect.ValueOf(params)
	ptr := v.Kind() == reflect.Pointer
	if ptr {
		if v.IsNil() {
			return nil, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, false
	}
	f, ok := v.Type().FieldByName("ChatID")
	if !ok || !f.IsExported() || f.Type != reflect.TypeFor[tg.ChatID]() || len(f.Index) != 1 {
		return nil, false
	}
	cp := reflect.New(v.Type()).Elem()
	cp.Set(v)
	cp.Field(f.Index[0]).Set(reflect.ValueOf(to))
	if ptr {
		return cp.Addr().Interface(), true
	}
	return cp.Interface(), true
}
