package limit

import (
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
// Burst + T/Every calls. The zero Rule (Every <= 0) does not limit.
type Rule struct {
	Every time.Duration
	Burst int // values < 1 count as 1
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

// DefaultMaxChats is how many chats' states a Local keeps at most.
const DefaultMaxChats = 10_000

// sweepPerCall is how many least recently used chat states a Local
// inspects, and drops when idle, on each call.
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
// Memory: a chat's state is needed only while its buckets are not full or
// it is paused; idle states are dropped as later calls pass by (no
// goroutine, no janitor), and at most WithMaxChats are kept: over that,
// the least recently used chat's state is dropped even if not idle (that
// chat could then exceed its own limit once; the global limit still
// holds). Local is safe for concurrent use. Calls for one chat are not
// queued in order by Local itself; Control keeps per-chat order.
type Local struct {
	global, chat, group Rule
	maxChats            int

	turns lanes // the queue for the global bucket (one lane)

	mu     sync.Mutex
	gtat   time.Time // the global bucket's theoretical arrival time
	paused time.Time // every message held until then
	chats  map[tg.ChatID]*chatState
	lru    chatState // sentinel: lru.next is the most recently used
}

type chatState struct {
	id         tg.ChatID
	tat        time.Time // chat bucket
	gtat       time.Time // group bucket (groups only)
	paused     time.Time
	prev, next *chatState
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

// LocalOption configures NewLocal.
type LocalOption func(*Local)

// WithGlobal sets the rule for all counted calls of the bot (default
// DefaultGlobalEvery, DefaultGlobalBurst). Raise it for paid broadcasts (allow_paid_broadcast: up
// to 1000 per second).
func WithGlobal(r Rule) LocalOption { return func(l *Local) { l.global = r } }

// WithChat sets the rule for each chat (default DefaultChatEvery,
// DefaultChatBurst).
func WithChat(r Rule) LocalOption { return func(l *Local) { l.chat = r } }

// WithGroup sets the extra rule for each group, supergroup and channel
// (default DefaultGroupEvery, DefaultGroupBurst).
func WithGroup(r Rule) LocalOption { return func(l *Local) { l.group = r } }

// WithMaxChats caps the chat states a Local keeps (default
// DefaultMaxChats). Values < 1 keep the default.
func WithMaxChats(n int) LocalOption {
	return func(l *Local) {
		if n > 0 {
			l.maxChats = n
		}
	}
}

// NewLocal returns a Local with the default rules, changed by opts.
func NewLocal(opts ...LocalOption) *Local {
	l := &Local{
		global:   Rule{Every: DefaultGlobalEvery, Burst: DefaultGlobalBurst},
		chat:     Rule{Every: DefaultChatEvery, Burst: DefaultChatBurst},
		group:    Rule{Every: DefaultGroupEvery, Burst: DefaultGroupBurst},
		maxChats: DefaultMaxChats,
	}
	for _, o := range opts {
		o(l)
	}
	l.chats = make(map[tg.ChatID]*chatState)
	l.lru.next, l.lru.prev = &l.lru, &l.lru
	return l
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
		at := l.readyAt(l.state(chat, now), now)
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
		cs := l.state(chat, now)
		if l.readyAt(cs, now).After(now) {
			l.mu.Unlock()
			return false, nil
		}
		at := now
		if l.global.on() {
			at = later(now, l.gtat.Add(-l.global.tolerance()))
		}
		if !at.After(now) {
			l.charge(cs, now)
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
	cs := l.state(chat, now)
	cs.paused = later(cs.paused, until)
}

// Settled implements Settler: the call Wait let through for chat counts
// from now on, its answer, rather than from when it was let through. A
// request reaches Telegram somewhere between the two, so counting from the
// answer keeps calls to one chat at least the chat rule's interval apart
// on arrival too, however the network delays them. (Control sends one
// call per chat at a time, which this relies on; the global rule's burst
// absorbs the network's jitter instead.)
func (l *Local) Settled(chat tg.ChatID) {
	if chat.IsZero() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cs, ok := l.chats[chat]
	if !ok {
		return
	}
	now := time.Now()
	if l.chat.on() {
		cs.tat = later(cs.tat, now.Add(l.chat.Every))
	}
	if l.group.on() && isGroup(chat) {
		cs.gtat = later(cs.gtat, now.Add(l.group.Every))
	}
}

// Len returns the number of chat states held: at most WithMaxChats, and
// in practice the chats sent to within the last few seconds (a minute for
// busy groups).
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

// charge takes one call at now from every bucket that applies. l.mu is
// held.
func (l *Local) charge(cs *chatState, now time.Time) {
	take := func(tat *time.Time, rule Rule) {
		if rule.on() {
			*tat = later(*tat, now).Add(rule.Every)
		}
	}
	take(&l.gtat, l.global)
	if cs != nil {
		take(&cs.tat, l.chat)
		if isGroup(cs.id) {
			take(&cs.gtat, l.group)
		}
	}
}

// state returns chat's state, creating it and marking it most recently
// used, and drops idle states from the LRU end; nil for a zero chat.
// l.mu is held.
func (l *Local) state(chat tg.ChatID, now time.Time) *chatState {
	for range sweepPerCall {
		if tail := l.lru.prev; tail != &l.lru && tail.id != chat && tail.idle(now) {
			l.drop(tail)
		}
	}
	if chat.IsZero() {
		return nil
	}
	cs, ok := l.chats[chat]
	if ok {
		cs.unlink()
	} else {
		for len(l.chats) >= l.maxChats {
			l.drop(l.lru.prev)
		}
		cs = &chatState{id: chat}
		l.chats[chat] = cs
	}
	cs.prev, cs.next = &l.lru, l.lru.next
	l.lru.next.prev = cs
	l.lru.next = cs
	return cs
}

func (l *Local) drop(cs *chatState) {
	cs.unlink()
	delete(l.chats, cs.id)
}

func (cs *chatState) unlink() {
	cs.prev.next, cs.next.prev = cs.next, cs.prev
	cs.prev, cs.next = nil, nil
}

// idle reports whether the state holds nothing a fresh one would not:
// every bucket full and no pause.
func (cs *chatState) idle(now time.Time) bool {
	return !cs.tat.After(now) && !cs.gtat.After(now) && !cs.paused.After(now)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
