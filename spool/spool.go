// Package spool defines the durable queue a bot can put between its update
// source and its handlers (tidygram.WithSpool), and the lease that lets
// exactly one of several instances of a bot poll Telegram.
//
// With a spool, a source confirms an update to Telegram as soon as the
// spool holds it (long polling: the next offset; webhook: the 200), and the
// handlers take updates from the spool, which forgets each only after its
// handler ended. A crash then loses nothing the spool kept, and Telegram's
// 100-update window no longer limits how far ahead the bot reads.
//
// The package owns the contract only: three small interfaces and the
// Delivery passed between them. It starts no goroutine and imports nothing
// beyond the standard library and tg. The NATS JetStream implementation —
// an embedded server or an external cluster, several instances sharing
// one bot — is the separate module github.com/tidygram/tidygram/jetstream,
// so a bot that uses no spool links none of NATS.
package spool

import (
	"context"

	"github.com/tidygram/tidygram/tg"
)

// Spool stores updates durably and delivers them to the handlers.
type Spool interface {
	// Put stores u and returns once the spool holds it as durably as the
	// implementation documents, or with an error (the source then keeps u
	// unconfirmed to Telegram and tries again). An update_id put twice
	// within the implementation's dedupe window is stored once. Put is
	// safe for concurrent use.
	Put(ctx context.Context, u *tg.Update) error

	// Consume delivers stored updates to deliver until ctx is done (then
	// it returns nil) or it cannot go on (an error: the bot stops with
	// it). deliver blocks while the bot's queue is full and returns an
	// error only when the bot is stopping; the delivery is then not
	// handed over and Consume must neither call Done for it nor lose it.
	//
	// The updates of one chat are delivered in the order they were
	// stored, each after deliver returned for the one before; the bot
	// keeps that order into its handlers. A Delivery's Done may be
	// called after Consume returned (the bot drains its queue after the
	// stop), until the spool is closed.
	Consume(ctx context.Context, deliver func(context.Context, *Delivery) error) error
}

// Delivery is one update handed from a Spool to the bot.
type Delivery struct {
	Update *tg.Update
	// Redelivered reports that the spool may have delivered this update
	// before — to this instance or to one that stopped or crashed — so
	// its handler may already have run, fully or in part. Handlers read
	// it as Context.Redelivered to keep side effects idempotent.
	Redelivered bool
	// Done is called exactly once, when the update's handling ended.
	// handled true: the handler returned, failed, panicked or was
	// abandoned, and the spool never delivers the update again. false:
	// the bot stopped before running it, and it comes again.
	Done func(handled bool)
}

// Leader is implemented by a Spool shared by several instances of a bot:
// Telegram allows one getUpdates consumer per token, so the bot polls only
// while it holds the lease. Webhook instances need no lease (every one may
// receive and Put).
type Leader interface {
	// Lead blocks until this instance holds the poll lease, or ctx ends
	// (then it returns ctx's error). held is done when the lease is lost
	// (not renewed in time) or ctx ends; release gives the lease up and
	// must be called once polling stopped.
	Lead(ctx context.Context) (held context.Context, release func(), err error)
}

// Checker is implemented by a Spool that can tell whether it works: the
// bot's readiness (Bot.Ready, ops /readyz) fails while Check does.
type Checker interface {
	Check(ctx context.Context) error
}

// Stats are a spool's counters, for metrics.
type Stats struct {
	Depth        int64 // updates stored and not yet done (approximate)
	Redelivered  int64 // deliveries made again since the spool opened
	LeaseChanges int64 // times this instance gained or lost a lease
	Leading      bool  // this instance holds the poll lease now
}

// Stater is implemented by a Spool that reports Stats; the bot's observer
// reads them through observe.State.
type Stater interface {
	Stats() Stats
}

// Lane returns the key that orders u: its chat, else its sender (a
// private chat's id equals its user's), else none (unordered: it runs in
// any order). The bot runs one update per lane at a time, in order; a
// spool shared by several instances partitions by the same key, so that
// one instance at a time holds a chat.
func Lane(u *tg.Update) (key int64, unordered bool) {
	if c := u.Chat(); c != nil {
		return c.ID, false
	}
	if s := u.Sender(); s != nil {
		return s.ID, false
	}
	return 0, true
}

// AsyncPutter is implemented by a Spool that can store updates without a
// round trip each: the bot's source then hands a poll's updates over
// without waiting for each to be stored, and confirms each to Telegram
// once stored is called for it.
type AsyncPutter interface {
	// PutAsync starts storing u, as Put would, and returns; stored is
	// called exactly once, on another goroutine, with nil once the spool
	// holds u as durably as Put documents, or with the error that kept it
	// from it (the bot then puts u again with Put). PutAsync blocks while
	// too many puts wait for their outcome, and returns an error — stored
	// is then never called — when it cannot start (ctx done, spool
	// closed).
	PutAsync(ctx context.Context, u *tg.Update, stored func(error)) error
}
