// Package poller is the long-polling source of a bot: one getUpdates in
// flight at a time, offsets kept at the watermark (the lowest update_id
// not yet handled) so that only handled updates are confirmed, redelivered
// updates skipped by id, backoff after errors and Telegram's retry_after
// after a 429.
//
// poller owns the poll loop, run on the caller's goroutine, and the
// watermark; it starts no goroutine. It never handles an update itself:
// it hands each to Config.Submit with a done callback and confirms the
// update once that callback reported it handled.
package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tidygram/tidygram/internal/owner"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/tg"
)

// ConfirmTimeout bounds the final confirmation at stop.
const ConfirmTimeout = 3 * time.Second

// pollMargin is added to the long-poll timeout for the request's deadline:
// a poll whose connection was silently dropped (a black hole: no answer,
// no reset) is given up PollTimeout + pollMargin after it was sent, so
// delivery stops for at most that long (33 s with the defaults).
const pollMargin = 3 * time.Second

// stallRecheck bounds how long a new update waits to be fetched while
// updates are in flight (at-least-once mode): Telegram answers at once
// while unconfirmed updates exist, so the poller cannot long-poll for new
// ones then, and polls at most this often instead.
const stallRecheck = 200 * time.Millisecond

// Config is what a Poller needs. Every field is required unless marked.
type Config struct {
	Client         *tg.Client
	Limit          int           // getUpdates limit, 1–100
	Timeout        time.Duration // long-poll timeout, whole seconds
	AllowedUpdates []string      // optional
	AtMostOnce     bool          // confirm on receipt instead of after handling
	BackoffMin     time.Duration
	BackoffMax     time.Duration
	// Submit queues u (blocking while the queue is full); done reports,
	// once, whether it was handled. An error means the bot is stopping.
	Submit   func(ctx context.Context, u *tg.Update, done func(handled bool)) error
	Observer observe.Observer
	Log      *slog.Logger
	Owner    owner.Bot
}

// Poller is the long-polling source. Create it with New; Run polls, and
// Confirm makes the final confirmation once handling has stopped.
type Poller struct {
	cfg       Config
	tr        *tracker
	roomTimer *time.Timer // waitRoom's, reused
}

// New returns a Poller; it makes no call and starts nothing.
func New(cfg Config) *Poller { return &Poller{cfg: cfg, tr: newTracker()} }

// Run polls until ctx is done or Telegram refuses the bot (ErrUnauthorized,
// ErrWebhookActive, ErrOtherPoller). One getUpdates is in flight at a time,
// with ctx: cancelling it aborts a pending poll at once. Every update is
// taken by the tracker (skipping those already in flight or handled) and
// submitted with backpressure as soon as it is decoded, while the rest of
// the answer is still read, and confirmed only by a later offset once it
// was handled. At most Limit updates are in hand beyond the watermark.
// The poll's deadline (Timeout + 3 s) covers Submit's waits: an answer
// not read by then is given up, and the updates not yet submitted come
// again with the next poll.
func (p *Poller) Run(ctx context.Context) error {
	var err error
	p.cfg.Owner.Do(ctx, "poller", func(ctx context.Context) { err = p.loop(ctx) })
	if p.roomTimer != nil {
		p.roomTimer.Stop()
	}
	return err
}

func (p *Poller) loop(ctx context.Context) error {
	tr := p.tr
	timeout := int64(p.cfg.Timeout / time.Second)
	params := &tg.GetUpdatesParams{Limit: int64(p.cfg.Limit), Timeout: timeout, AllowedUpdates: p.cfg.AllowedUpdates}
	delay := time.Duration(0)
	var stall *time.Timer
	for ctx.Err() == nil {
		if !p.cfg.AtMostOnce && !p.waitRoom(ctx) {
			return nil
		}
		off := tr.watermark()
		if p.cfg.AtMostOnce {
			off = tr.next()
		}
		params.Offset = off
		rctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout+pollMargin)
		// Each update is submitted as soon as it is decoded, while the
		// rest of the answer is read. Updates already in flight or
		// handled are sent again while unconfirmed: they are recognised
		// by id and not decoded.
		got, fresh, stopping := 0, 0, false
		skipped, err := p.cfg.Client.GetUpdatesFunc(rctx, params, tr.known, func(u *tg.Update) error {
			got++
			taken, err := p.take(ctx, u)
			if err != nil {
				stopping = true
				return err
			}
			if taken {
				fresh++
			}
			return nil
		})
		cancel()
		if stopping {
			// This update and the rest of the answer stay unconfirmed and
			// come again on the next start.
			return nil
		}
		if err != nil {
			// Updates taken before the error are in hand like any other;
			// the rest come again.
			if ctx.Err() != nil {
				return nil
			}
			if fatal := Classify(err); fatal != nil {
				return fatal
			}
			delay = p.backoff(delay, err)
			if !sleep(ctx, delay) {
				return nil
			}
			continue
		}
		delay = 0
		got += skipped
		// The server answered at once with nothing to take: only updates
		// refused above (and, at-least-once, nothing in flight to wait
		// for). Polling now would spin; poll again after stallRecheck.
		nothingNew := got > 0 && fresh == 0 && (p.cfg.AtMostOnce || tr.inFlight() == 0)
		if !nothingNew && (p.cfg.AtMostOnce || got == 0 || got == p.cfg.Limit) {
			// Nothing in flight comes again (at-most-once), the long poll
			// ended empty, or a backlog waits (waitRoom paces it).
			continue
		}
		// Everything the server holds is now in hand, and while some of it
		// is unconfirmed the server answers at once instead of long-polling:
		// polling now would only fetch it again. Wait until nothing is in
		// flight (then the next poll long-polls) or, so that new updates are
		// not held back by slow handlers, at most stallRecheck.
		idle := tr.waitIdle()
		if nothingNew {
			idle = nil
		}
		if stall == nil {
			stall = time.NewTimer(stallRecheck)
			defer stall.Stop()
		} else {
			stall.Reset(stallRecheck)
		}
		select {
		case <-idle:
		case <-stall.C:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// take hands u to Submit unless the tracker already holds it (a
// redelivery) or its id is one no offset can confirm; taken reports
// whether it was submitted. An error is Submit's: the bot is stopping.
func (p *Poller) take(ctx context.Context, u *tg.Update) (taken bool, err error) {
	if u.UpdateID <= 0 || u.UpdateID == math.MaxInt64 {
		// No offset can confirm it (or the offset would wrap and discard
		// the queue): a server fault, never handled.
		p.cfg.Log.Error("tidygram: getUpdates returned an update_id no offset can confirm; update skipped", "update_id", u.UpdateID)
		p.cfg.Observer.UpdateReceived(u, true)
		return false, nil
	}
	dup := !p.tr.take(u.UpdateID)
	p.cfg.Observer.UpdateReceived(u, dup)
	if dup {
		return false, nil
	}
	id, tr := u.UpdateID, p.tr
	return true, p.cfg.Submit(ctx, u, func(handled bool) {
		if handled {
			tr.finish(id)
		} // else: dropped at stop; stays unconfirmed
	})
}

// waitRoom waits until a poll is worth making: three quarters of the
// window free (a poll then fetches few updates twice), or — once
// stallRecheck has passed without that — any room at all, so that a slow
// update holding the watermark holds no other chat back beyond what the
// window forces. false if ctx ended the wait.
func (p *Poller) waitRoom(ctx context.Context) bool {
	need := p.cfg.Limit - p.cfg.Limit/4
	var timeout <-chan time.Time
	for {
		ch := p.tr.waitRoom(p.cfg.Limit, need)
		if ch == nil {
			return true
		}
		if timeout == nil && need > 1 {
			if p.roomTimer == nil {
				p.roomTimer = time.NewTimer(stallRecheck)
			} else {
				p.roomTimer.Reset(stallRecheck)
			}
			timeout = p.roomTimer.C
		}
		select {
		case <-ch:
		case <-timeout:
			need, timeout = 1, nil
		case <-ctx.Done():
			return false
		}
	}
}

// backoff returns the delay after a failed poll: Telegram's retry_after for
// a 429, else the previous delay doubled (from BackoffMin) with jitter,
// capped at BackoffMax.
func (p *Poller) backoff(prev time.Duration, err error) time.Duration {
	var d time.Duration
	var apiErr *tg.APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		d = apiErr.RetryAfter
	} else {
		d = max(prev*2, p.cfg.BackoffMin)
		d = min(d, p.cfg.BackoffMax)
		d = d/2 + rand.N(d/2+1) // jitter: [d/2, d]
	}
	p.cfg.Observer.PollFailed(err, d)
	return d
}

// sleep waits d or until ctx is done; false if ctx ended it.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Confirm tells Telegram, with one getUpdates(offset, limit 1, timeout 0),
// that every handled update below the watermark is done, so a restart does
// not redeliver them. Call it after Run returned and handling stopped. It
// has its own deadline of ConfirmTimeout.
func (p *Poller) Confirm() {
	tr := p.tr
	off := tr.watermark()
	if p.cfg.AtMostOnce {
		off = tr.next()
	}
	if off == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ConfirmTimeout)
	defer cancel()
	p.cfg.Owner.Do(ctx, "poller", func(ctx context.Context) {
		_, err := p.cfg.Client.GetUpdates(ctx, &tg.GetUpdatesParams{Offset: off, Limit: 1, Timeout: 0})
		if err != nil {
			p.cfg.Log.Warn("tidygram: final confirmation failed; handled updates may come again", "offset", off, "error", err)
		}
		if n := tr.inFlight(); n > 0 {
			p.cfg.Log.Warn("tidygram: updates left unhandled at stop will be redelivered", "count", n, "offset", off)
		}
	})
}

// Errors that end Run: retrying cannot help.
var (
	// ErrUnauthorized: Telegram rejects the token (401, or 404: the token
	// names no bot).
	ErrUnauthorized = errors.New("tidygram: the bot token was rejected (401 Unauthorized)")
	// ErrWebhookActive: getUpdates answered 409 because a webhook is set.
	// tidygram never deletes a webhook on its own.
	ErrWebhookActive = errors.New("tidygram: getUpdates refused: a webhook is set (409); delete it or run with a webhook")
	// ErrOtherPoller: getUpdates answered 409 because another process
	// polls with the same token; only one may.
	ErrOtherPoller = errors.New("tidygram: getUpdates refused: another instance polls with this token (409)")
)

// Classify maps a Bot API error that retrying cannot fix to ErrUnauthorized,
// ErrWebhookActive or ErrOtherPoller (wrapping err); nil for errors worth
// retrying.
func Classify(err error) error {
	var apiErr *tg.APIError
	if !errors.As(err, &apiErr) {
		return nil
	}
	switch apiErr.ErrorCode {
	case 401, 404: // 404: the token names no bot
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case 409:
		if strings.Contains(apiErr.Description, "webhook") {
			return fmt.Errorf("%w: %w", ErrWebhookActive, err)
		}
		return fmt.Errorf("%w: %w", ErrOtherPoller, err)
	}
	return nil
}
