package tidygram

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tidygram/tidygram/tg"
)

// confirmTimeout bounds the final confirmation at stop.
const confirmTimeout = 3 * time.Second

// pollMargin is added to the long-poll timeout for the request's deadline.
const pollMargin = 10 * time.Second

// stallRecheck bounds how long a new update waits to be fetched while
// updates are in flight (at-least-once mode): Telegram answers at once
// while unconfirmed updates exist, so the poller cannot long-poll for new
// ones then, and polls at most this often instead.
const stallRecheck = 200 * time.Millisecond

// poll runs the long-polling source until ctx is done or Telegram refuses
// the bot. One getUpdates is in flight at a time, with ctx: cancelling it
// aborts a pending poll at once. Every update is taken by the tracker
// (skipping those already in flight or handled), queued with backpressure,
// and confirmed only by a later offset once its handler ended. After the
// pool stopped (poolDone), the final watermark is confirmed.
func (b *Bot) poll(ctx context.Context, st *runState, poolDone <-chan struct{}) error {
	tr := newTracker()
	var err error
	b.labelled(ctx, "poller", func(ctx context.Context) { err = b.pollLoop(ctx, st, tr) })
	<-poolDone
	b.confirm(tr)
	return err
}

func (b *Bot) pollLoop(ctx context.Context, st *runState, tr *tracker) error {
	timeout := int64(b.cfg.pollTimeout / time.Second)
	params := &tg.GetUpdatesParams{Limit: int64(b.cfg.pollLimit), Timeout: timeout, AllowedUpdates: b.cfg.allowedUpdates}
	delay := time.Duration(0)
	var stall *time.Timer
	for ctx.Err() == nil {
		if !b.cfg.atMostOnce {
			if ch := tr.waitRoom(b.cfg.pollLimit, b.pollRoom(st)); ch != nil {
				select {
				case <-ch:
					continue
				case <-ctx.Done():
					return nil
				}
			}
		}
		off := tr.watermark()
		if b.cfg.atMostOnce {
			off = tr.next()
		}
		params.Offset = off
		rctx, cancel := context.WithTimeout(ctx, b.cfg.pollTimeout+pollMargin)
		ups, err := b.client.GetUpdates(rctx, params)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if fatal := classifyPollError(err); fatal != nil {
				return fatal
			}
			delay = b.backoff(delay, err)
			if !sleep(ctx, delay) {
				return nil
			}
			continue
		}
		delay = 0
		fresh := 0
		for i := range ups {
			u := &ups[i]
			if u.UpdateID <= 0 || u.UpdateID == math.MaxInt64 {
				// No offset can confirm it (or the offset would wrap and
				// discard the queue): a server fault, never handled.
				b.log.Error("tidygram: getUpdates returned an update_id no offset can confirm; update skipped", "update_id", u.UpdateID)
				b.received(u, true)
				continue
			}
			dup := !tr.take(u.UpdateID)
			b.received(u, dup)
			if dup {
				continue
			}
			fresh++
			id := u.UpdateID
			if err := b.submit(ctx, st, u, func(handled bool) {
				if handled {
					tr.finish(id)
				} // else: dropped at stop; stays unconfirmed
			}); err != nil {
				// Stopping: this and the rest of the batch stay
				// unconfirmed and come again on the next start.
				return nil
			}
		}
		// The server answered at once with nothing to take: only updates
		// refused above (and, at-least-once, nothing in flight to wait
		// for). Polling now would spin; poll again after stallRecheck.
		nothingNew := len(ups) > 0 && fresh == 0 && (b.cfg.atMostOnce || tr.inFlight() == 0)
		if !nothingNew && (b.cfg.atMostOnce || len(ups) == 0 || len(ups) == b.cfg.pollLimit) {
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

// pollRoom returns how many of the poll limit must be free (not in flight
// or done beyond the watermark) before the next poll: a quarter of the
// limit while every worker has work (fewer polls, fewer updates fetched
// twice), one as soon as a worker is idle (no chat waits while the window
// has room).
func (b *Bot) pollRoom(st *runState) int {
	if st.pool.Len() < st.pool.Workers() {
		return 1
	}
	return max(b.cfg.pollLimit/4, 1)
}

// backoff returns the delay after a failed poll: Telegram's retry_after for
// a 429, else the previous delay doubled (from BackoffMin) with jitter,
// capped at BackoffMax.
func (b *Bot) backoff(prev time.Duration, err error) time.Duration {
	var d time.Duration
	var apiErr *tg.APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		d = apiErr.RetryAfter
	} else {
		d = max(prev*2, b.cfg.backoffMin)
		d = min(d, b.cfg.backoffMax)
		d = d/2 + rand.N(d/2+1) // jitter: [d/2, d]
	}
	b.log.Warn("tidygram: getUpdates failed", "error", err, "retry_in", d)
	if h := b.cfg.hooks.PollError; h != nil {
		h(err, d)
	}
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

// confirm tells Telegram, with one getUpdates(offset, limit 1, timeout 0),
// that every handled update below the watermark is done, so a restart does
// not redeliver them. It has its own short deadline: the run's context is
// already cancelled.
func (b *Bot) confirm(tr *tracker) {
	off := tr.watermark()
	if b.cfg.atMostOnce {
		off = tr.next()
	}
	if off == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), confirmTimeout)
	defer cancel()
	b.labelled(ctx, "poller", func(ctx context.Context) {
		_, err := b.client.GetUpdates(ctx, &tg.GetUpdatesParams{Offset: off, Limit: 1, Timeout: 0})
		if err != nil {
			b.log.Warn("tidygram: final confirmation failed; handled updates may come again", "offset", off, "error", err)
		}
		if n := tr.inFlight(); n > 0 {
			b.log.Warn("tidygram: updates left unhandled at stop will be redelivered", "count", n, "offset", off)
		}
	})
}
