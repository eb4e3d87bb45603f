package limit

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tidygram/tidygram/tg"
)

// Limiter decides when a message may be sent. Local is the in-process
// implementation; a limiter shared by several processes of one bot (on
// Redis, NATS, …) implements the same two methods.
type Limiter interface {
	// Wait blocks until one more message may be sent to chat, or until ctx
	// ends (then it returns an error that wraps ctx.Err() or, when the
	// turn would come after ctx's deadline, context.DeadlineExceeded). A
	// zero chat (an inline message, no chat_id) takes the global limit only.
	Wait(ctx context.Context, chat tg.ChatID) error
	// Pause holds back every message to chat for d, as Telegram asked with
	// a 429's retry_after; a zero chat pauses every message.
	Pause(chat tg.ChatID, d time.Duration)
}

// Rule is a token bucket: up to Burst calls at once, refilled at one call
// per Every. Over any span of time T it lets through at most
// Burst + T/Every calls. The zero Rule (Every 0) does not limit. WithGlobal,
// WithChat and WithGroup refuse a negative Every or Burst (*OptionError).
type Rule struct {
	Every time.Duration // ≥ 0; 0: no limit
	Burst int           // ≥ 0; 0 counts as 1
}

// Per returns the Rule of n calls per d with the given burst. The
// interval is rounded up, so the rule is never faster than n per d.
func Per(n int, d time.Duration, burst int) Rule {
	if n <= 0 {
		return Rule{}
	}
	return Rule{Every: (d + time.Duration(n) - 1) / time.Duration(n), Burst: burst}
}

func (r Rule) on() bool { return r.Every > 0 }

// tolerance is how far ahead of now a bucket's theoretical arrival time
// may be while a call still passes (GCRA's tau).
func (r Rule) tolerance() time.Duration { return time.Duration(max(r.Burst, 1)-1) * r.Every }

// Default limits, after Telegram's FAQ ("avoid sending more than one
// message per second" in a chat, "not able to send more than 20 messages
// per minute" in a group, "not able to broadcast more than about 30
// messages per second").
const (
	// DefaultGlobalEvery and DefaultGlobalBurst: about 30 messages per
	// second for the whole bot, evenly spaced.
	DefaultGlobalEvery = (time.Second + 29) / 30 // rounded up: never faster
	DefaultGlobalBurst = 1
	// DefaultChatEvery and DefaultChatBurst: one message per second to one
	// chat, bursts of 3.
	DefaultChatEvery = time.Second
	DefaultChatBurst = 3
	// DefaultGroupEvery and DefaultGroupBurst: 20 messages per minute to one
	// group, supergroup or channel, bursts of 3 (on top of the chat rule).
	DefaultGroupEvery = time.Minute / 20
	DefaultGroupBurst = 3
)

// DefaultMaxChats is the number of chat states over which a Local drops
// every idle state at once (below it, sweepPerCall per call). It is not a
// hard cap: a constrained chat's state is never dropped.
const DefaultMaxChats = 10_000

// sweepPerCall is how many idle chat states (the ones idle longest first)
// a Local drops on each call while it holds fewer than WithMaxChats.
const sweepPerCall = 2

// Local is the in-process Limiter: token buckets (GCRA) for the bot, for
// each chat, and for each group, and pauses from 429s.
//
// Which chats are groups: Telegram gives users positive ids, and basic
// groups, supergroups and channels negative ones (supergroups and channels
// share the -100… prefix and cannot be told apart by id), so every
// negative id and every @username (public channels and supergroups) takes
// the group rule as well as the chat rule; channels are thus limited like
// groups, which is conservative. One chat addressed by id and by username
// gets two buckets.
//
// Memory: a chat has a state only while it is constrained, that is while
// one of its buckets is not full again or a pause is in force; a state
// that is idle (equivalent to a fresh one) is dropped as later calls pass
// by (no goroutine, no janitor): up to sweepPerCall per call, all of them
// once WithMaxChats states are held. A constrained chat's state is never
// dropped, so a throttled chat never gets a fresh burst early, however
// many other chats are active. The states held are therefore bounded by
// the chats constrained at once: the chats with a call let through or
// answered within the last Burst×Every of their rules (3 s for a private
// chat, 9 s for a group with the defaults; with the default global rule
// that is at most about 30×9 = 270 chats), plus the chats paused by a
// 429, each until its retry_after ends. Over WithMaxChats constrained
// chats, all are kept and Len exceeds it. Waiting for a turn creates no
// state. Each state costs about 200 bytes, and O(log n) time when charged.
// Local is safe for concurrent use. Calls for one chat are not queued in
// order by Local itself; Control keeps per-chat order.
type Local struct {
	global, chat, group Rule
	maxChats            int

	turns lanes // the queue for the global bucket (one lane)

	mu     sync.Mutex
	gtat   time.Time // the global bucket's theoretical arrival time
	paused time.Time // every message held until then
	chats  map[tg.ChatID]*chatState
	idle   idleHeap // every state in chats, the first to become idle on top
}

type chatState struct {
	id     tg.ChatID
	tat    time.Time // chat bucket
	gtat   time.Time // group bucket (groups only)
	paused time.Time
	index  int // in Local.idle
}

var (
	_ Limiter = (*Local)(nil)
	_ Settler = (*Local)(nil)
)

// Settler is implemented by a Limiter that wants to know when a call it
// let through has been answered. Control calls Settled after each counted
// attempt, whatever its outcome.
type Settler interface {
	Settled(chat tg.ChatID)
}

// LocalOption configures NewLocal. An option given a value it cannot use
// returns an *OptionError, which NewLocal returns.
type LocalOption func(*Local) error

// rule returns the option named name that sets *field to r, refusing a
// negative Every or Burst.
func rule(name string, r Rule, field func(*Local) *Rule) LocalOption {
	return option(name, r, r.Every < 0 || r.Burst < 0, "Every and Burst must not be negative (the zero Rule does not limit)",
		func(l *Local) { *field(l) = r })
}

// WithGlobal sets the rule for all counted calls of the bot (default
// DefaultGlobalEvery, DefaultGlobalBurst; see Rule for the valid values).
// Raise it for paid broadcasts (allow_paid_broadcast: up to 1000 per
// second).
func WithGlobal(r Rule) LocalOption {
	return rule("WithGlobal", r, func(l *Local) *Rule { return &l.global })
}

// WithChat sets the rule for each chat (default DefaultChatEvery,
// DefaultChatBurst; see Rule for the valid values).
func WithChat(r Rule) LocalOption {
	return rule("WithChat", r, func(l *Local) *Rule { return &l.chat })
}

// WithGroup sets the extra rule for each group, supergroup and channel
// (default DefaultGroupEvery, DefaultGroupBurst; see Rule for the valid
// values).
func WithGroup(r Rule) LocalOption {
	return rule("WithGroup", r, func(l *Local) *Rule { return &l.group })
}

// WithMaxChats sets the number of chat states over which a Local drops
// every idle state at once rather than a few per call (default
// DefaultMaxChats; at least 1, else an *OptionError). It bounds how many
// idle states linger, not how many constrained ones are kept: those are
// never dropped (see Local).
func WithMaxChats(n int) LocalOption {
	return option("WithMaxChats", n, n < 1, "must be at least 1", func(l *Local) { l.maxChats = n })
}

// NewLocal returns a Local with the default rules, changed by opts. An
// option given a value it cannot use makes NewLocal fail with an
// *OptionError.
func NewLocal(opts ...LocalOption) (*Local, error) {
	l := &Local{
		global:   Rule{Every: DefaultGlobalEvery, Burst: DefaultGlobalBurst},
		chat:     Rule{Every: DefaultChatEvery, Burst: DefaultChatBurst},
		group:    Rule{Every: DefaultGroupEvery, Burst: DefaultGroupBurst},
		maxChats: DefaultMaxChats,
	}
	for _, o := range opts {
		if err := o(l); err != nil {
			return nil, err
		}
	}
	l.chats = make(map[tg.ChatID]*chatState)
	return l, nil
}

// isGroup is the group heuristic documented on Local.
func isGroup(c tg.ChatID) bool { return c.Username != "" || c.ID < 0 }

// Wait implements Limiter. It first waits until chat's own buckets and
// the pauses allow a call, without holding anything; then it queues for
// the global bucket, first in, first out, behind the chats that became
// ready before it. Only the head of that queue waits for the bucket, so
// one slow chat never holds back another beyond the global limit. Every
// bucket is charged at the moment the call is let through, not at a
// planned moment: when the process stalls (CPU starvation, a long GC),
// the calls that waited meanwhile still leave at most a burst at a time.
func (l *Local) Wait(ctx context.Context, chat tg.ChatID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	sleep := func(until time.Time) error {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
			return fmt.Errorf("limit: turn for chat %v in %v, after the context's deadline: %w", chat, d.Round(time.Millisecond), context.DeadlineExceeded)
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		// The chat's own buckets and the pauses.
		l.mu.Lock()
		now := time.Now()
		at := l.readyAt(l.lookup(chat, now), now)
		l.mu.Unlock()
		if at.After(now) {
			if err := sleep(at); err != nil {
				return err
			}
			continue
		}
		// The global bucket, one waiter at a time.
		release, err := l.turns.acquire(ctx, tg.ChatID{})
		if err != nil {
			return err
		}
		passed, err := l.takeTurn(chat, sleep)
		release()
		if passed || err != nil {
			return err
		}
	}
}

// takeTurn waits, at the head of the global queue, until the global bucket
// allows a call, and charges every bucket. It returns false when the chat
// was paused meanwhile (the caller queues again once it is ready).
func (l *Local) takeTurn(chat tg.ChatID, sleep func(time.Time) error) (bool, error) {
	for {
		l.mu.Lock()
		now := time.Now()
		cs := l.lookup(chat, now)
		if l.readyAt(cs, now).After(now) {
			l.mu.Unlock()
			return false, nil
		}
		at := now
		if l.global.on() {
			at = later(now, l.gtat.Add(-l.global.tolerance()))
		}
		if !at.After(now) {
			l.charge(chat, cs, now)
			l.mu.Unlock()
			return true, nil
		}
		l.mu.Unlock()
		if err := sleep(at); err != nil {
			return false, err
		}
	}
}

// Pause implements Limiter.
func (l *Local) Pause(chat tg.ChatID, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	until := now.Add(d)
	if chat.IsZero() {
		l.paused = later(l.paused, until)
		return
	}
	if !until.After(now) {
		return
	}
	cs := l.state(chat, now)
	cs.paused = later(cs.paused, until)
	l.changed(cs)
}

// Settled implements Settler: the call Wait let through for chat counts
// from now on, its answer, rather than from when it was let through. A
// request reaches Telegram somewhere between the two, so counting from the
// answer keeps calls to one chat at least the chat rule's interval apart
// on arrival too, however the network delays them. (Control sends one
// call per chat at a time, which this relies on; the global rule's burst
// absorbs the network's jitter instead.) A chat whose state was dropped
// while its call was in flight (the call took longer than its buckets
// need to refill) gets a state again, constrained for one interval.
func (l *Local) Settled(chat tg.ChatID) {
	group := l.group.on() && isGroup(chat)
	if chat.IsZero() || !l.chat.on() && !group {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	cs := l.state(chat, now)
	if l.chat.on() {
		cs.tat = later(cs.tat, now.Add(l.chat.Every))
	}
	if group {
		cs.gtat = later(cs.gtat, now.Add(l.group.Every))
	}
	l.changed(cs)
}

// Len returns the number of chat states held: the chats constrained now
// (see Local for the bound) plus idle states not yet dropped, which are
// fewer than WithMaxChats.
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.chats)
}

// readyAt returns when chat's own buckets and the pauses let a call pass.
// l.mu is held.
func (l *Local) readyAt(cs *chatState, now time.Time) time.Time {
	at := later(now, l.paused)
	if cs == nil {
		return at
	}
	at = later(at, cs.paused)
	if l.chat.on() {
		at = later(at, cs.tat.Add(-l.chat.tolerance()))
	}
	if l.group.on() && isGroup(cs.id) {
		at = later(at, cs.gtat.Add(-l.group.tolerance()))
	}
	return at
}

// charge takes one call at now from every bucket that applies: the
// global one and, for a non-zero chat, the chat's (cs, created if nil).
// l.mu is held.
func (l *Local) charge(chat tg.ChatID, cs *chatState, now time.Time) {
	take := func(tat *time.Time, rule Rule) {
		if rule.on() {
			*tat = later(*tat, now).Add(rule.Every)
		}
	}
	take(&l.gtat, l.global)
	group := l.group.on() && isGroup(chat)
	if chat.IsZero() || !l.chat.on() && !group {
		return // no chat bucket applies: nothing to keep
	}
	if cs == nil {
		cs = l.state(chat, now)
	}
	take(&cs.tat, l.chat)
	if group {
		take(&cs.gtat, l.group)
	}
	l.changed(cs)
}

// lookup drops idle states (see sweep) and returns chat's state, or nil
// if it has none (a fresh state would be idle) or chat is zero. l.mu is
// held.
func (l *Local) lookup(chat tg.ChatID, now time.Time) *chatState {
	l.sweep(now)
	if chat.IsZero() {
		return nil
	}
	return l.chats[chat]
}

// state returns chat's state, creating it (idle) if it has none; chat is
// not zero. The caller makes it constrained and calls changed. l.mu is
// held.
func (l *Local) state(chat tg.ChatID, now time.Time) *chatState {
	if cs := l.lookup(chat, now); cs != nil {
		return cs
	}
	cs := &chatState{id: chat}
	l.chats[chat] = cs
	heap.Push(&l.idle, cs)
	return cs
}

// changed restores the heap order after cs's times moved. l.mu is held.
func (l *Local) changed(cs *chatState) { heap.Fix(&l.idle, cs.index) }

// sweep drops idle states, the ones idle longest first: at most
// sweepPerCall, or all of them when WithMaxChats states are held. A
// constrained state is never dropped. Each state is dropped once, so the
// cost is O(log n) per state created. l.mu is held.
func (l *Local) sweep(now time.Time) {
	all := len(l.chats) >= l.maxChats
	for n := 0; len(l.idle) > 0 && (all || n < sweepPerCall); n++ {
		cs := l.idle[0]
		if cs.idleAt().After(now) {
			return
		}
		heap.Pop(&l.idle)
		delete(l.chats, cs.id)
	}
}

// idleAt returns when the state holds nothing a fresh one would not:
// every bucket full and no pause.
func (cs *chatState) idleAt() time.Time {
	return later(later(cs.tat, cs.gtat), cs.paused)
}

// idleHeap is a container/heap of chat states by idleAt, earliest first.
type idleHeap []*chatState

func (h idleHeap) Len() int           { return len(h) }
func (h idleHeap) Less(i, j int) bool { return h[i].idleAt().Before(h[j].idleAt()) }
func (h idleHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *idleHeap) Push(x any) {
	cs := x.(*chatState)
	cs.index = len(*h)
	*h = append(*h, cs)
}
func (h *idleHeap) Pop() any {
	old := *h
	cs := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return cs
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
