package tidygram

import (
	"context"
	"fmt"
	"time"

	"github.com/tidygram/tidygram/internal/album"
	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// WithSpool puts s, a durable spool, between the update source and the
// handlers (the NATS JetStream spool is the module
// github.com/tidygram/tidygram/jetstream):
//
//   - the poller, or the webhook receiver, puts each update in s and
//     confirms it to Telegram as soon as Put returned (polling: the next
//     offset; webhook: the 200). Telegram's 100-update window then no
//     longer limits how far ahead the bot reads: a slow or flood-limited
//     chat holds back no other.
//   - the handlers take updates from s (Spool.Consume), in per-chat
//     order, and s forgets an update only after its handler ended
//     (returned, failed, panicked or was abandoned). Updates not started
//     by the end of the drain period, and updates in hand at a crash,
//     come again from s, flagged Context.Redelivered.
//   - with a spool shared by several instances (one that implements
//     spool.Leader), the bot polls only while it holds the poll lease, so
//     exactly one instance calls getUpdates; webhook instances all
//     receive. Partitioning updates by chat among the instances is the
//     spool's.
//   - Ready (ops /readyz) fails while s fails its spool.Checker, and
//     observe.State.Spool reports its spool.Stats.
//
// A Put that fails (the spool unreachable) is tried again with the bot's
// backoff (WithBackoff) until it succeeds or Run stops; the update stays
// unconfirmed meanwhile, so nothing is lost. The caller owns s: close it
// after Run returned. WithSpool cannot be combined with WithAtMostOnce or
// WebhookConfig.AckImmediately: both confirm an update before anything
// holds it, which the spool exists to avoid.
func WithSpool(s spool.Spool) Option {
	return func(c *config) error {
		if s == nil {
			return optErr("WithSpool", "nil spool")
		}
		c.spool = s
		return nil
	}
}

// checkSpool validates the options that combine with WithSpool.
func (c *config) checkSpool() error {
	switch {
	case c.spool == nil:
		return nil
	case c.atMostOnce:
		return optErr("WithSpool", "cannot be combined with WithAtMostOnce: the spool confirms an update once it holds it")
	case c.webhook != nil && c.webhook.AckImmediately:
		return optErr("WithSpool", "cannot be combined with WebhookConfig.AckImmediately: the webhook answers once the spool holds the update")
	}
	return nil
}

// spoolPut is the source's submit with a spool: it puts u in the spool,
// trying again after the backoff while Put fails, and reports u handled
// (confirmable to Telegram) once the spool holds it. An error means the
// bot is stopping: u stays unconfirmed. With a spool.AsyncPutter it
// returns as soon as the put started: a poll's updates are stored without
// a round trip each, and each is confirmed once stored.
func (b *Bot) spoolPut(ctx context.Context, st *runState, u *tg.Update, done func(handled bool)) error {
	ap, ok := b.cfg.spool.(spool.AsyncPutter)
	if !ok {
		return b.spoolPutWaiting(ctx, u, done)
	}
	// Puts of one chat are pipelined one at a time: an update is handed
	// over only once the chat's previous one is stored, so that a put
	// that fails and is tried again can never land behind a later update
	// of its chat. Different chats' puts overlap.
	stored, err := st.afterChatPut(ctx, u)
	if err != nil {
		return err
	}
	finish := func(handled bool) { done(handled); stored() }
	err = ap.PutAsync(ctx, u, func(err error) {
		if err == nil {
			finish(true)
			return
		}
		// Not stored: put it again, waiting, on a goroutine of the run
		// (Run waits for it before the final confirmation).
		st.retryPut(func() {
			b.id.Do(ctx, "spool", func(ctx context.Context) { _ = b.spoolPutWaiting(ctx, u, finish) })
		})
	})
	if err == nil || ctx.Err() != nil {
		return err
	}
	return b.spoolPutWaiting(ctx, u, finish)
}

// afterChatPut waits until the previous put of u's chat is stored (or ctx
// is done), and returns the function that marks u's own put stored. The
// state is one entry per chat with a put not yet stored.
func (st *runState) afterChatPut(ctx context.Context, u *tg.Update) (stored func(), err error) {
	key, unordered := spool.Lane(u)
	if unordered {
		return func() {}, nil
	}
	mine := make(chan struct{})
	st.putsMu.Lock()
	if st.chatPuts == nil {
		st.chatPuts = map[int64]chan struct{}{}
	}
	prev := st.chatPuts[key]
	st.chatPuts[key] = mine
	st.putsMu.Unlock()
	stored = func() {
		st.putsMu.Lock()
		if st.chatPuts[key] == mine {
			delete(st.chatPuts, key)
		}
		st.putsMu.Unlock()
		close(mine)
	}
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			stored() // stopping: let later puts of the chat see the end too
			return nil, ctx.Err()
		}
	}
	return stored, nil
}

// spoolPutWaiting is spoolPut with Put: it returns once u is stored, or
// ctx is done.
func (b *Bot) spoolPutWaiting(ctx context.Context, u *tg.Update, done func(handled bool)) error {
	delay := b.cfg.backoffMin
	var t *time.Timer
	for {
		err := b.cfg.spool.Put(ctx, u)
		if err == nil {
			done(true)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.log.Warn("tidygram: the spool did not take an update; trying again", "update_id", u.UpdateID, "error", err, "retry_in", delay)
		if t == nil {
			t = time.NewTimer(delay)
			defer t.Stop()
		} else {
			t.Reset(delay)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		delay = min(2*delay, b.cfg.backoffMax)
	}
}

// consume runs the spool's consumer until ctx is done: every delivery
// goes to the pool like an update from a source, with its Done as the
// callback.
func (b *Bot) consume(ctx context.Context) error {
	return b.cfg.spool.Consume(ctx, func(ctx context.Context, d *spool.Delivery) error {
		st := b.state.Load()
		if st == nil {
			return errStopped
		}
		key, unordered := spool.Lane(d.Update)
		if st.albums != nil {
			part := album.Part{Update: d.Update, Done: d.Done, Redelivered: d.Redelivered}
			if taken, err := st.albums.Add(ctx, key, unordered, part); taken || err != nil {
				return err
			}
		}
		return st.pool.Submit(ctx, key, unordered, st.exec.Task(d.Update, d.Redelivered, d.Done))
	})
}

// pollWhileLeading polls only while this instance holds the spool's poll
// lease: when the lease is lost it stops polling, confirms what the spool
// holds, and waits to hold the lease again. It returns nil when ctx is
// done, or the error that ends the run (Telegram refusing the bot, the
// lease failing for good).
func (b *Bot) pollWhileLeading(ctx context.Context, l spool.Leader) error {
	for {
		held, release, err := l.Lead(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tidygram: spool poll lease: %w", err)
		}
		b.log.Info("tidygram: holding the spool's poll lease; polling")
		p := b.poller()
		err = p.Run(held)
		p.Confirm() // what the spool holds, so the next holder starts after it
		release()
		if err != nil || ctx.Err() != nil {
			return err
		}
		b.log.Warn("tidygram: lost the spool's poll lease; polling stopped until it is held again")
	}
}

// spoolState is what observe.State reports of the spool.
func (b *Bot) spoolState() func() spool.Stats {
	if s, ok := b.cfg.spool.(spool.Stater); ok {
		return s.Stats
	}
	return nil
}

// spoolReady is the spool's part of Ready.
func (b *Bot) spoolReady(ctx context.Context) error {
	if c, ok := b.cfg.spool.(spool.Checker); ok {
		if err := c.Check(ctx); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return nil
}

// startConsumer starts the spool's consumer (when there is a spool) on a
// goroutine of the bot; the channel is closed once it returned. A consumer
// failing before the stop ends the run through fail.
func (b *Bot) startConsumer(ctx context.Context, fail context.CancelCauseFunc) <-chan struct{} {
	done := make(chan struct{})
	if b.cfg.spool == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		b.id.Do(ctx, "spool", func(ctx context.Context) {
			if err := b.consume(ctx); err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("tidygram: spool: %w", err))
			}
		})
	}()
	return done
}

// retryPut runs put on a goroutine unless the run is stopping; waitPuts
// waits for those started.
func (st *runState) retryPut(put func()) {
	st.putsMu.Lock()
	defer st.putsMu.Unlock()
	if st.putsStopped {
		return // stopping: the update stays unconfirmed and comes again
	}
	st.puts.Go(put)
}

// waitPuts stops retryPut and waits for the puts it started.
func (st *runState) waitPuts() {
	st.putsMu.Lock()
	st.putsStopped = true
	st.putsMu.Unlock()
	st.puts.Wait()
}
