package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/tg"
)

// Defaults of a Limiter.
const (
	// DefaultLimiterBucket is the KV bucket of the flood state (LimiterBucket).
	DefaultLimiterBucket = "tidygram_flood"
	// DefaultLimiterMargin is how late after its turn a message may reach
	// Telegram and still be counted right (LimiterMargin).
	DefaultLimiterMargin = 50 * time.Millisecond
	// DefaultLimiterTimeout bounds the KV writes of Pause, which has no
	// context, and of a reservation made for several Waits at once, and
	// how long refused writes of one key are tried again (LimiterTimeout).
	DefaultLimiterTimeout = 2 * time.Second

	// limiterAttempts bounds the reservations one Wait makes: a reservation
	// is given up when another instance changed the chat between the read
	// and the write, or when the caller woke up later than the margin.
	limiterAttempts = 8
	// globalBatch is the most Waits one write of the global key reserves
	// slots for.
	globalBatch = 64
	// limiterCache is how many key states a Limiter remembers (the last
	// revision it read or wrote, to write without reading first).
	limiterCache = 4096
	// limiterMarkerTTL is the bucket's LimitMarkerTTL: how long the server
	// keeps the marker of a state whose TTL ended.
	limiterMarkerTTL = time.Second
	// globalKey is the key of the bot-wide bucket and pause.
	globalKey = "global"
)

// ErrLimiterBusy is matched (errors.Is) by Wait's error when it could not
// keep a turn: its reservations (at most 8) were all given up, because
// other instances charged the same chat under it or the process woke up
// after the margin every time (CPU starvation), or another instance got
// every write of a key in first for LimiterTimeout.
var ErrLimiterBusy = errors.New("jetstream: limiter: no turn kept")

// ErrLimiterState is matched (errors.Is) by Wait's error when a key of
// the flood bucket holds something the Limiter did not write.
var ErrLimiterState = errors.New("jetstream: limiter: unreadable flood state")

// Limiter is a limit.Limiter shared by every instance of a bot through a
// JetStream KV bucket: Telegram's bot-wide limit (about 30 messages/s)
// holds for all instances together, and a chat's and a group's limits
// follow the chat from one instance to another (a chat moved at failover
// does not get a fresh burst). Install it with
// limit.New(limit.WithLimiter(l)).
//
// # Algorithm
//
// The rules are limit's (limit.Rule, same defaults as limit.Local:
// LimiterRules) and are kept with GCRA: each bucket is one theoretical
// arrival time (TAT, Unix nanoseconds) in a KV key, "global" for the bot
// and "c.<id>" (or "u.<username>") for a chat, whose key also holds its
// group bucket (negative ids and @usernames are groups, as in
// limit.Local) and its pause. Keys are updated by compare-and-swap on
// their KV revision (a write names the revision it read; a refused write
// re-reads and tries again), so instances never lose each other's
// charges. Wait:
//
//  1. reads the chat's state and, when the chat's buckets or a pause hold
//     it back, sleeps until they let it pass, reserving nothing;
//  2. reserves the next slot of the global bucket (now, or later when the
//     bot is sending at its limit); the instance's Waits queue for it
//     first come, first served, and one write reserves slots for up to 64
//     of them, so they never race each other for the key;
//  3. charges the chat's buckets at that slot; when another instance
//     charged or paused the chat in between, the global slot is given up
//     (counted in Stats().Wasted: the bucket runs a little below its
//     rate, never above) and Wait starts again;
//  4. sleeps until the slot (a timer; it returns early, with an error
//     wrapping ctx.Err(), when ctx ends; the slot stays spent).
//
// When a turn would come after ctx's deadline, Wait returns an error
// wrapping context.DeadlineExceeded at once, without reserving anything.
// Every time is Unix nanoseconds of the instance's clock.
//
// # Margin
//
// A message reaches Telegram a little after its turn: the KV writes, the
// timer's lateness and the request itself. So that a late message and a
// prompt one after it are never closer than the rules allow at
// Telegram's end, each message is charged as if it arrived
// LimiterMargin after its slot (at most the rule's burst tolerance, so
// that burst-1 rules keep their full rate), and a caller that wakes up
// more than the margin after its slot gives the slot up and reserves
// again. The margin costs nothing at sustained load; it delays the last
// message of a fresh burst by the margin. Set it above twice the KV round
// trip.
//
// A message can still reach Telegram later than the margin (a slow
// network, a stalled process). Limiter implements limit.Settler for that:
// when a call's answer comes, the call has reached Telegram, so the
// instance's next Wait for the chat charges the chat's buckets from the
// later of the margin and the answer, in the write it makes anyway (no
// round trip more). Control sends one call per chat at a time, which this
// relies on; a chat whose next call is made by another instance (it moved
// at failover) is charged from the margin there.
//
// # Pauses
//
// Pause (a 429's retry_after) is written to the chat's key, or to the
// global key for chat zero, so every instance honours it; it is also held
// locally at once, so this instance honours it even when the write fails.
// Its write is bounded by LimiterTimeout; a failure is passed to
// LimiterOnError.
//
// # Cost
//
// A Wait is two KV round trips (a conditional write of the global key and
// one of the chat's) when this instance wrote the chat last, three when
// it must read the chat first (a chat new to it), plus two per write
// refused because another instance wrote the key first; Waits queued
// together share one global write. BenchmarkLimiterWait measures it
// against an in-process server (2 cores, go test -bench LimiterWait):
// 2.0 KV operations and 0.11-0.16 ms per Wait for known chats, 3.0 and
// 0.16-0.52 ms for new chats, 2.2-2.7 with two instances writing the
// global key in a tight loop (0.10-0.33 refused writes per Wait).
// Instances sending to the same chats at once (not the case when a
// partitioned spool gives each chat to one instance) refuse each other's
// chat writes about once per message: 4.3-5.0 round trips per message
// with three instances in TestLimiterInstancesNo429. Wait starts no
// goroutine.
//
// # Clock and failures
//
// Slots are absolute times: the instances' clocks must agree (NTP), as
// their disagreement adds to the margin. When KV fails, Wait returns an
// error that wraps the failure and the call is not made (limit.Control
// returns it; the bot reports it). There is no local fallback: it would
// let N instances send N times the bot's limit. A key's state is written
// with a per-message TTL that ends when the state would be idle again
// (its buckets full and no pause), so idle chats cost nothing in the
// bucket; the bucket has no MaxAge, which would drop a pause longer than
// it.
//
// # Memory
//
// A Limiter remembers the last state it read or wrote of at most 4096
// keys (about 100 bytes each; idle ones are dropped first when full, and
// a key not remembered is read), the time of the last answer of at most
// 4096 chats for about a chat interval after it (Settled), the pauses in
// force that it was told of, and the Waits queued for the global key:
// nothing per idle chat.
type Limiter struct {
	b                   *kvBucket
	global, chat, group limit.Rule
	margin              time.Duration
	timeout             time.Duration
	onError             func(error)
	onTurn              func(chat tg.ChatID, slot int64) // tests: each turn given, with its slot

	// The Waits of this instance queue for the global key: one of them
	// (the leader) reserves slots for up to globalBatch queued Waits with
	// one write, then makes the next queued Wait the leader. The
	// instance's own Waits thus never race each other for the key (only
	// other instances can make a global write conflict), and a burst of
	// Waits costs one write per batch.
	gmu   sync.Mutex
	gq    []*globalWaiter // queued, first come first served
	gbusy bool            // a leader is serving

	mu     sync.Mutex
	cache  map[string]floodState   // last state read or written per key
	answer map[string]int64        // the last answer per chat key (Settled), Unix ns
	paused map[tg.ChatID]time.Time // pauses held locally (zero chat: all)

	waits, turns, reads, writes, conflicts, wasted, late, failures atomic.Uint64
}

var (
	_ limit.Limiter = (*Limiter)(nil)
	_ limit.Settler = (*Limiter)(nil)
)

// floodState is the state of one key: the global bucket (tat) or a
// chat's buckets (tat: the chat rule, gtat: the group rule), and a pause;
// times are Unix nanoseconds.
type floodState struct {
	rev    uint64 // the revision it was read or written at; 0: no message
	tat    int64
	gtat   int64
	paused int64
}

const (
	floodV1  = 1
	floodLen = 1 + 3*8
)

func (f floodState) encode() []byte {
	b := make([]byte, floodLen)
	b[0] = floodV1
	binary.BigEndian.PutUint64(b[1:], uint64(f.tat))
	binary.BigEndian.PutUint64(b[9:], uint64(f.gtat))
	binary.BigEndian.PutUint64(b[17:], uint64(f.paused))
	return b
}

func decodeFlood(e kvEntry) (floodState, error) {
	f := floodState{rev: e.rev}
	if !e.live() {
		return f, nil
	}
	if len(e.value) != floodLen || e.value[0] != floodV1 {
		return f, fmt.Errorf("%w: %d bytes at revision %d", ErrLimiterState, len(e.value), e.rev)
	}
	f.tat = int64(binary.BigEndian.Uint64(e.value[1:]))
	f.gtat = int64(binary.BigEndian.Uint64(e.value[9:]))
	f.paused = int64(binary.BigEndian.Uint64(e.value[17:]))
	return f, nil
}

// idleAt is when the state holds nothing a missing one would not.
func (f floodState) idleAt() int64 { return max(f.tat, f.gtat, f.paused) }

// LimiterOption configures NewLimiter.
type LimiterOption func(*limiterConfig)

type limiterConfig struct {
	bucket              string
	replicas            int
	global, chat, group limit.Rule
	margin, timeout     time.Duration
	onError             func(error)
	errs                []error
}

func (c *limiterConfig) invalid(option, format string, args ...any) {
	c.errs = append(c.errs, &OptionError{Option: option, Reason: fmt.Sprintf(format, args...)})
}

// LimiterBucket sets the KV bucket's name (default DefaultLimiterBucket;
// letters, digits, '-' and '_'). Every instance of one bot must use the
// same bucket; different bots need different ones.
func LimiterBucket(name string) LimiterOption {
	return func(c *limiterConfig) {
		if !bucketNameRE.MatchString(name) {
			c.invalid("LimiterBucket", "%q: must be letters, digits, '-' and '_'", name)
			return
		}
		c.bucket = name
	}
}

// LimiterReplicas sets the bucket's replicas when NewLimiter creates it
// (default 1; 1 to 5). An existing bucket keeps its own.
func LimiterReplicas(n int) LimiterOption {
	return func(c *limiterConfig) {
		if n < 1 || n > 5 {
			c.invalid("LimiterReplicas", "%d: must be from 1 to 5", n)
			return
		}
		c.replicas = n
	}
}

// LimiterRules sets the rules for the whole bot, each chat and each group
// (defaults: limit's DefaultGlobalEvery/Burst, DefaultChatEvery/Burst,
// DefaultGroupEvery/Burst, as limit.Local). A Rule with Every 0 does not
// limit; Every and Burst must not be negative. Every instance of a bot
// must use the same rules.
func LimiterRules(global, chat, group limit.Rule) LimiterOption {
	return func(c *limiterConfig) {
		for _, r := range []struct {
			name string
			r    limit.Rule
		}{{"global", global}, {"chat", chat}, {"group", group}} {
			if r.r.Every < 0 || r.r.Burst < 0 {
				c.invalid("LimiterRules", "%s rule %+v: Every and Burst must not be negative", r.name, r.r)
				return
			}
		}
		c.global, c.chat, c.group = global, chat, group
	}
}

// LimiterMargin sets how late after its slot a message may reach
// Telegram and still be counted right (default DefaultLimiterMargin;
// from 0 to 1 s; 0 charges each message at its slot and never gives a
// late slot up). See Limiter.
func LimiterMargin(d time.Duration) LimiterOption {
	return func(c *limiterConfig) {
		if d < 0 || d > time.Second {
			c.invalid("LimiterMargin", "%v: must be from 0 to 1s", d)
			return
		}
		c.margin = d
	}
}

// LimiterTimeout bounds the KV writes of Pause and of a reservation made
// for several Waits at once, and how long a key's refused writes are
// tried again before Wait gives up with ErrLimiterBusy (default
// DefaultLimiterTimeout; more than 0).
func LimiterTimeout(d time.Duration) LimiterOption {
	return func(c *limiterConfig) {
		if d <= 0 {
			c.invalid("LimiterTimeout", "%v: must be more than 0", d)
			return
		}
		c.timeout = d
	}
}

// LimiterOnError sets the function that receives the errors of Pause,
// which has no caller to return them to (default: none; they are counted
// in Stats().Failures either way). It must be quick and safe for
// concurrent use.
func LimiterOnError(f func(error)) LimiterOption {
	return func(c *limiterConfig) { c.onError = f }
}

// NewLimiter binds the flood bucket, creating it if it does not exist
// (history 1, memory storage: the state lives seconds, and a server
// restart forgetting it costs at most one burst; per-message TTLs). It
// returns invalid options as *OptionError (joined) without contacting
// the server, and the server's errors wrapped. It blocks at most until
// ctx ends.
func NewLimiter(ctx context.Context, js natsjs.JetStream, opts ...LimiterOption) (*Limiter, error) {
	c := limiterConfig{
		bucket:   DefaultLimiterBucket,
		replicas: 1,
		global:   limit.Rule{Every: limit.DefaultGlobalEvery, Burst: limit.DefaultGlobalBurst},
		chat:     limit.Rule{Every: limit.DefaultChatEvery, Burst: limit.DefaultChatBurst},
		group:    limit.Rule{Every: limit.DefaultGroupEvery, Burst: limit.DefaultGroupBurst},
		margin:   DefaultLimiterMargin,
		timeout:  DefaultLimiterTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if js == nil {
		c.errs = append(c.errs, errors.New("jetstream: NewLimiter: nil JetStream"))
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, fmt.Errorf("jetstream: limiter: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := openBucket(ctx, js, natsjs.KeyValueConfig{
		Bucket:         c.bucket,
		Description:    "tidygram flood limits",
		History:        1,
		Replicas:       c.replicas,
		MaxValueSize:   floodLen + payloadReserve, // the server counts the headers too
		Storage:        natsjs.MemoryStorage,
		LimitMarkerTTL: limiterMarkerTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: limiter: %w", err)
	}
	return &Limiter{
		b:       b,
		global:  c.global,
		chat:    c.chat,
		group:   c.group,
		margin:  c.margin,
		timeout: c.timeout,
		onError: c.onError,
		cache:   make(map[string]floodState),
		answer:  make(map[string]int64),
		paused:  make(map[tg.ChatID]time.Time),
	}, nil
}

// Bucket returns the name of the limiter's KV bucket.
func (l *Limiter) Bucket() string { return l.b.name }

// LimiterStats are a Limiter's counters since it was made.
type LimiterStats struct {
	Waits     uint64 // calls of Wait
	Turns     uint64 // Waits that returned nil
	Reads     uint64 // KV reads (round trips)
	Writes    uint64 // KV writes (round trips), refused ones included
	Conflicts uint64 // writes refused because another instance wrote the key first
	Wasted    uint64 // global slots reserved and given up (see Limiter)
	Late      uint64 // slots given up because the caller woke up after the margin
	Failures  uint64 // Pause writes that failed
}

// Stats returns the counters.
func (l *Limiter) Stats() LimiterStats {
	return LimiterStats{
		Waits: l.waits.Load(), Turns: l.turns.Load(), Reads: l.reads.Load(), Writes: l.writes.Load(),
		Conflicts: l.conflicts.Load(), Wasted: l.wasted.Load(), Late: l.late.Load(), Failures: l.failures.Load(),
	}
}

func isGroupChat(c tg.ChatID) bool { return c.Username != "" || c.ID < 0 }

func ruleOn(r limit.Rule) bool { return r.Every > 0 }

// tolerance is GCRA's tau: how far ahead of now a TAT may be while a
// call still passes.
func tolerance(r limit.Rule) int64 { return int64(max(r.Burst, 1)-1) * int64(r.Every) }

// charge returns the TAT after one call at slot, counted as arriving the
// margin later (at most the rule's tolerance).
func (l *Limiter) charge(tat, slot int64, r limit.Rule) int64 {
	at := slot + min(int64(l.margin), tolerance(r))
	return max(tat, at) + int64(r.Every)
}

// chatKey returns the KV key of chat's state ("" for chat zero).
func chatKey(chat tg.ChatID) string {
	switch {
	case chat.Username != "":
		return "u." + escapeKey(chat.Username)
	case chat.ID != 0:
		return "c." + strconv.FormatInt(chat.ID, 10)
	}
	return ""
}

// charged reports whether a call to chat is charged to a chat key.
func (l *Limiter) charged(chat tg.ChatID) bool {
	return !chat.IsZero() && (ruleOn(l.chat) || ruleOn(l.group) && isGroupChat(chat))
}

// chatReady returns when chat's buckets and pause let a call pass.
func (l *Limiter) chatReady(chat tg.ChatID, f floodState) int64 {
	at := f.paused
	if ruleOn(l.chat) {
		at = max(at, f.tat-tolerance(l.chat))
	}
	if ruleOn(l.group) && isGroupChat(chat) {
		at = max(at, f.gtat-tolerance(l.group))
	}
	return at
}

// Wait implements limit.Limiter: it blocks until one more message may be
// sent to chat by any instance (see Limiter), or until ctx ends. A zero
// chat takes the global rule (and pause) only.
func (l *Limiter) Wait(ctx context.Context, chat tg.ChatID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.waits.Add(1)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	sleep := func(until int64) error {
		d := time.Until(time.Unix(0, until))
		if d <= 0 {
			return ctx.Err()
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
			return fmt.Errorf("jetstream: limiter: waiting for a turn for chat %v: %w", chat, ctx.Err())
		}
	}
	deadline := int64(1<<63 - 1)
	if dl, ok := ctx.Deadline(); ok {
		deadline = dl.UnixNano()
	}
	tooLate := func(at int64) error {
		return fmt.Errorf("jetstream: limiter: turn for chat %v in %v, after the context's deadline: %w",
			chat, time.Until(time.Unix(0, at)).Round(time.Millisecond), context.DeadlineExceeded)
	}
	ckey := chatKey(chat)
	for attempt := 0; ; {
		if attempt == limiterAttempts {
			return fmt.Errorf("jetstream: limiter: chat %v: %w after %d reservations", chat, ErrLimiterBusy, attempt)
		}
		// 1. The chat's own buckets and the pauses, reserving nothing.
		var cs floodState
		if ckey != "" {
			var err error
			if l.charged(chat) {
				// A state remembered can only be behind the bucket's
				// (TATs and pauses only grow); step 3's conditional
				// write finds out.
				cs, _, err = l.load(ctx, ckey)
			} else { // only a pause can hold it, and nothing writes to check
				cs, err = l.read(ctx, ckey)
			}
			if err != nil {
				return l.kvErr(ctx, "read", chat, err)
			}
		}
		now := time.Now().UnixNano()
		at := max(l.localPause(chat), l.localPause(tg.ChatID{}), l.chatReady(chat, l.answered(ckey, chat, cs)))
		if at > now {
			if at > deadline {
				return tooLate(at)
			}
			if err := sleep(at); err != nil {
				return err
			}
			continue
		}
		// 2. A slot of the global bucket.
		slot, err := l.globalSlot(ctx, deadline)
		switch {
		case errors.Is(err, errSlotAfterDeadline):
			return tooLate(slot)
		case err != nil:
			return l.kvErr(ctx, "reserve", chat, err)
		}
		// 3. The chat's buckets, at that slot.
		if l.charged(chat) {
			ok, err := l.chargeChat(ctx, ckey, chat, slot)
			if err != nil {
				return l.kvErr(ctx, "charge", chat, err)
			}
			if !ok {
				l.wasted.Add(1)
				attempt++
				continue
			}
		}
		// 4. The slot itself.
		if err := sleep(slot); err != nil {
			return err
		}
		if l.margin > 0 && time.Now().UnixNano()-slot > int64(l.margin) {
			l.late.Add(1)
			l.wasted.Add(1)
			attempt++
			continue
		}
		l.turns.Add(1)
		if l.onTurn != nil {
			l.onTurn(chat, slot)
		}
		return nil
	}
}

// errSlotAfterDeadline is a Wait's share of a global reservation when its
// slot would come after its deadline: nothing was reserved for it.
var errSlotAfterDeadline = fmt.Errorf("slot after the deadline: %w", context.DeadlineExceeded)

// globalWaiter is a Wait queued for a slot of the global bucket.
type globalWaiter struct {
	deadline int64
	ready    chan struct{} // closed when served, or when made the leader
	lead     bool          // it serves the next batch (under gmu)
	gone     bool          // gave up before it was served (under gmu)
	slot     int64
	err      error
}

// globalSlot returns the next slot of the global bucket for a Wait with
// the given deadline (Unix ns), at or after now and any global pause. It
// queues behind the instance's other Waits; see Limiter.gq. When the
// slot would come after deadline it reserves nothing and returns the slot
// with errSlotAfterDeadline. When ctx ends while it is queued, it returns
// ctx.Err() at once; a leader finishes its batch first (one write,
// bounded by LimiterTimeout), for the others in it.
func (l *Limiter) globalSlot(ctx context.Context, deadline int64) (int64, error) {
	w := &globalWaiter{deadline: deadline, ready: make(chan struct{})}
	l.gmu.Lock()
	l.gq = append(l.gq, w)
	lead := !l.gbusy
	if lead {
		l.gbusy, w.lead = true, true
	}
	l.gmu.Unlock()
	if !lead {
		select {
		case <-w.ready:
		case <-ctx.Done():
			l.gmu.Lock()
			select {
			case <-w.ready: // served or made the leader just now
			default:
				w.gone = true
				l.gmu.Unlock()
				return 0, ctx.Err()
			}
			if w.lead { // pass the lead on
				w.gone = true
				l.handOver()
				l.gmu.Unlock()
				return 0, ctx.Err()
			}
			l.gmu.Unlock()
		}
		if !w.lead {
			return w.slot, w.err
		}
	}
	l.serveBatch(ctx)
	return w.slot, w.err
}

// serveBatch reserves slots for the first globalBatch queued Waits (the
// leader, at the head, among them) with one conditional write, hands
// them their slots and makes the next queued Wait the leader.
func (l *Limiter) serveBatch(ctx context.Context) {
	l.gmu.Lock()
	var batch []*globalWaiter
	i := 0
	for ; i < len(l.gq) && len(batch) < globalBatch; i++ {
		if w := l.gq[i]; !w.gone {
			batch = append(batch, w)
		}
	}
	clear(l.gq[:i])
	l.gq = l.gq[i:]
	l.gmu.Unlock()

	// The write serves the whole batch: the leader's ctx ending must not
	// fail the others.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	slots := make([]int64, len(batch))
	errs := make([]error, len(batch))
	_, err := l.update(wctx, globalKey, func(f *floodState, now int64) (bool, error) {
		write := false
		for i, w := range batch {
			slot := max(now, f.paused)
			if ruleOn(l.global) {
				slot = max(slot, f.tat-tolerance(l.global))
			}
			slots[i], errs[i] = slot, nil
			if slot > w.deadline {
				errs[i] = errSlotAfterDeadline
				continue
			}
			if ruleOn(l.global) {
				f.tat = l.charge(f.tat, slot, l.global)
				write = true
			}
		}
		return write, nil
	})
	cancel()

	l.gmu.Lock()
	defer l.gmu.Unlock()
	for i, w := range batch {
		w.slot, w.err = slots[i], errs[i]
		if err != nil {
			w.err = err
		}
		if !w.lead {
			close(w.ready)
		}
	}
	l.handOver()
}

// handOver makes the first queued Wait that has not given up the leader,
// or notes that none is; gmu is held.
func (l *Limiter) handOver() {
	for len(l.gq) > 0 && l.gq[0].gone {
		l.gq[0] = nil
		l.gq = l.gq[1:]
	}
	if len(l.gq) == 0 {
		l.gq, l.gbusy = nil, false
		return
	}
	next := l.gq[0]
	next.lead = true
	close(next.ready)
}

// errNotReady stops chargeChat's update without writing.
var errNotReady = errors.New("chat not ready at the slot")

// chargeChat charges chat's buckets at slot. It returns false, writing
// nothing, when the state it meets (another instance charged or paused
// the chat since Wait looked) does not let a call pass at slot.
func (l *Limiter) chargeChat(ctx context.Context, key string, chat tg.ChatID, slot int64) (bool, error) {
	_, err := l.update(ctx, key, func(f *floodState, _ int64) (bool, error) {
		*f = l.answered(key, chat, *f)
		if l.chatReady(chat, *f) > slot {
			return false, errNotReady
		}
		if ruleOn(l.chat) {
			f.tat = l.charge(f.tat, slot, l.chat)
		}
		if ruleOn(l.group) && isGroupChat(chat) {
			f.gtat = l.charge(f.gtat, slot, l.group)
		}
		return true, nil
	})
	if errors.Is(err, errNotReady) {
		return false, nil
	}
	return err == nil, err
}

// Settled implements limit.Settler: the call Wait last let through for
// chat has been answered, so it reached Telegram by now. This instance's
// next Wait for chat counts that call as arriving at the later of its
// slot plus the margin and now (see Limiter's Margin): a request slower
// than the margin does not let the next one come too close behind it at
// Telegram's end. It writes nothing; the next charge does. Chats held:
// at most 4096 answered within the last chat (or group) interval; when
// more are, the answer is not held and the margin alone counts.
func (l *Limiter) Settled(chat tg.ChatID) {
	if !l.charged(chat) {
		return
	}
	key := chatKey(chat)
	now := time.Now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.answer[key]; !ok && len(l.answer) >= limiterCache {
		for k, at := range l.answer {
			if at+l.answerSpan() <= now {
				delete(l.answer, k)
			}
		}
		if len(l.answer) >= limiterCache {
			return
		}
	}
	l.answer[key] = now
}

// answerSpan is how long an answer can matter to the next charge: the
// longer of the chat and the group intervals.
func (l *Limiter) answerSpan() int64 {
	return int64(max(l.chat.Every, l.group.Every, 0))
}

// answered returns f, the state of chat's key, with its buckets charged
// as if the chat's last call (Settled) arrived when its answer came: a
// TAT never below that answer plus the rule's interval.
func (l *Limiter) answered(key string, chat tg.ChatID, f floodState) floodState {
	if key == "" {
		return f
	}
	l.mu.Lock()
	at, ok := l.answer[key]
	l.mu.Unlock()
	if !ok {
		return f
	}
	if ruleOn(l.chat) {
		f.tat = max(f.tat, at+int64(l.chat.Every))
	}
	if ruleOn(l.group) && isGroupChat(chat) {
		f.gtat = max(f.gtat, at+int64(l.group.Every))
	}
	return f
}

// Pause implements limit.Limiter: it holds back every message to chat
// (every message, for chat zero) for d, on every instance. It holds the
// pause locally at once and writes it to the chat's (or the global) key,
// blocking at most LimiterTimeout; a failed write is counted and passed
// to LimiterOnError.
func (l *Limiter) Pause(chat tg.ChatID, d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d)
	l.mu.Lock()
	for c, t := range l.paused { // few: the chats paused right now
		if time.Until(t) <= 0 {
			delete(l.paused, c)
		}
	}
	if until.After(l.paused[chat]) {
		l.paused[chat] = until
	}
	l.mu.Unlock()

	key := globalKey
	if !chat.IsZero() {
		key = chatKey(chat)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	_, err := l.update(ctx, key, func(f *floodState, _ int64) (bool, error) {
		if f.paused >= until.UnixNano() {
			return false, nil
		}
		f.paused = until.UnixNano()
		return true, nil
	})
	if err != nil {
		l.failures.Add(1)
		if l.onError != nil {
			l.onError(fmt.Errorf("jetstream: limiter: pause chat %v for %v: %w", chat, d, err))
		}
	}
}

// localPause returns until when chat (chat zero: everything) is paused
// locally, in Unix nanoseconds (0: not).
func (l *Limiter) localPause(chat tg.ChatID) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.paused[chat]
	if !ok {
		return 0
	}
	return t.UnixNano()
}

// load returns key's state: the one last read or written (remembered:
// true), else a read.
func (l *Limiter) load(ctx context.Context, key string) (f floodState, remembered bool, err error) {
	l.mu.Lock()
	f, ok := l.cache[key]
	l.mu.Unlock()
	if ok {
		return f, true, nil
	}
	f, err = l.read(ctx, key)
	return f, false, err
}

// read reads key's state from KV and remembers it.
func (l *Limiter) read(ctx context.Context, key string) (floodState, error) {
	l.reads.Add(1)
	e, err := l.b.get(ctx, key)
	if err != nil {
		l.forget(key)
		return floodState{}, err
	}
	f, err := decodeFlood(e)
	if err != nil {
		l.forget(key)
		return floodState{}, fmt.Errorf("key %s: %w", key, err)
	}
	l.remember(key, f)
	return f, nil
}

// update applies change to key's state (the remembered one first, then,
// after a refused write, the one read back) and writes the result
// conditionally on the revision it started from. change gets the state
// and now (Unix ns); it returns whether to write, or an error that ends
// update without writing. Each write carries a TTL that ends when the
// state will be idle. After refused writes update tries again until
// LimiterTimeout has passed since the first (another instance writing
// the key in a tight loop, as in a broadcast, can hold it that long at
// worst) or ctx ends. A decision not to write taken on a remembered
// state is taken again on a fresh read: a remembered state can be behind
// the bucket's (another instance's pause), and only a write would have
// found out. An error from change on a remembered state stands: TATs and
// pauses only grow, so the bucket's state holds a call back at least as
// long.
func (l *Limiter) update(ctx context.Context, key string, change func(f *floodState, now int64) (bool, error)) (floodState, error) {
	f, remembered, err := l.load(ctx, key)
	if err != nil {
		return f, err
	}
	start := time.Now()
	for {
		now := time.Now().UnixNano()
		next := f
		write, err := change(&next, now)
		if err != nil {
			return f, err
		}
		if !write {
			if !remembered {
				return f, nil
			}
			remembered = false
			if f, err = l.read(ctx, key); err != nil {
				return f, err
			}
			continue
		}
		ttl := time.Duration(next.idleAt()-now) + time.Second
		l.writes.Add(1)
		rev, err := l.b.put(ctx, key, next.encode(), ttl, f.rev, true)
		if err == nil {
			next.rev = rev
			l.remember(key, next)
			return next, nil
		}
		if !isConflict(err) {
			l.forget(key) // the write may have happened
			return f, err
		}
		l.conflicts.Add(1)
		if time.Since(start) > l.timeout {
			return f, fmt.Errorf("key %s: %w: writes refused for %v", key, ErrLimiterBusy, l.timeout)
		}
		remembered = false
		if f, err = l.read(ctx, key); err != nil {
			return f, err
		}
	}
}

// remember keeps key's state for the next update. The cache holds at most
// limiterCache keys: when full, it drops the states that are idle (a
// fresh read would find the same or nothing); when none is, the new one
// is not kept.
func (l *Limiter) remember(key string, f floodState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.cache[key]; !ok && len(l.cache) >= limiterCache {
		now := time.Now().UnixNano()
		for k, c := range l.cache {
			if c.idleAt() <= now && k != globalKey {
				delete(l.cache, k)
			}
		}
		if len(l.cache) >= limiterCache {
			return
		}
	}
	l.cache[key] = f
}

func (l *Limiter) forget(key string) {
	l.mu.Lock()
	delete(l.cache, key)
	l.mu.Unlock()
}

// kvErr wraps an error of the KV bucket; when ctx has ended meanwhile
// (which may be why the operation failed) it wraps ctx.Err() as well.
func (l *Limiter) kvErr(ctx context.Context, op string, chat tg.ChatID, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("jetstream: limiter %s: %s for chat %v: %w: %w", l.b.name, op, chat, cerr, err)
	}
	return fmt.Errorf("jetstream: limiter %s: %s for chat %v: %w", l.b.name, op, chat, err)
}
