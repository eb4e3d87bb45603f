package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tidygram/tidygram/jetstream/internal/natstest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// turnLog records the slots a Limiter gives, by chat.
type turnLog struct {
	mu    sync.Mutex
	slots map[tg.ChatID][]int64
	all   []int64
}

func (l *turnLog) hook(chat tg.ChatID, slot int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slots == nil {
		l.slots = map[tg.ChatID][]int64{}
	}
	l.slots[chat] = append(l.slots[chat], slot)
	l.all = append(l.all, slot)
}

func (l *turnLog) of(chat tg.ChatID) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := slices.Clone(l.slots[chat])
	slices.Sort(s)
	return s
}

func (l *turnLog) every() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := slices.Clone(l.all)
	slices.Sort(s)
	return s
}

// checkRule fails t unless the sorted slots keep rule with GCRA's exact
// arithmetic: any k+1 consecutive slots span at least (k+1-burst) ×
// Every, that is, no window holds more than burst + span/Every slots.
func checkRule(t *testing.T, what string, slots []int64, r limit.Rule) {
	t.Helper()
	burst := max(r.Burst, 1)
	for i := range slots {
		for j := i + burst; j < len(slots); j++ {
			need := int64(j-i+1-burst) * int64(r.Every)
			if got := slots[j] - slots[i]; got < need {
				t.Fatalf("%s: slots %d..%d span %v, the rule %v×%d needs at least %v",
					what, i, j, time.Duration(got), r.Every, r.Burst, time.Duration(need))
			}
		}
	}
}

// newTestLimiter returns a Limiter on bucket of js whose turns are
// recorded in log (if not nil).
func newTestLimiter(t testing.TB, js natsjs.JetStream, bucket string, log *turnLog, opts ...LimiterOption) *Limiter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := NewLimiter(ctx, js, append([]LimiterOption{LimiterBucket(bucket)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if log != nil {
		l.onTurn = log.hook
	}
	return l
}

var noRule = limit.Rule{}

// Two instances (two connections, one bucket) share the global rule: 60
// Waits from six goroutines, half on each, get slots that keep 20/s burst
// 1 exactly, together.
func TestLimiterGlobalRuleShared(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, jsA := natstest.Connect(t, node.URL())
	_, jsB := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	rule := limit.Per(20, time.Second, 1)
	logA, logB := &turnLog{}, &turnLog{}
	a := newTestLimiter(t, jsA, "global", logA, LimiterRules(rule, noRule, noRule))
	b := newTestLimiter(t, jsB, "global", logB, LimiterRules(rule, noRule, noRule))

	var wg sync.WaitGroup
	for g := range 6 {
		l := a
		if g%2 == 1 {
			l = b
		}
		wg.Go(func() {
			for i := range 10 {
				if err := l.Wait(ctx, tg.ID(int64(100*g+i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	all := append(logA.every(), logB.every()...)
	slices.Sort(all)
	if len(all) != 60 || len(logA.every()) != 30 {
		t.Fatalf("%d turns (%d on A), want 60 (30)", len(all), len(logA.every()))
	}
	checkRule(t, "global, both instances", all, rule)
	sa, sb := a.Stats(), b.Stats()
	t.Logf("60 turns over %v; A: %+v; B: %+v", time.Duration(all[59]-all[0]).Round(time.Millisecond), sa, sb)
	if sa.Conflicts+sb.Conflicts == 0 {
		t.Log("no write conflict between the instances (they never raced for the global key)")
	}
}

// A chat's bursts and its group's follow it from one instance to another:
// after A spent a chat's burst, B's turns for it come at the rule's pace,
// not at once; a chat new to both is served at once.
func TestLimiterChatStateFollowsTheChat(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, jsA := natstest.Connect(t, node.URL())
	_, jsB := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	chatRule := limit.Rule{Every: 200 * time.Millisecond, Burst: 3}
	groupRule := limit.Rule{Every: 400 * time.Millisecond, Burst: 3}
	log := &turnLog{}
	a := newTestLimiter(t, jsA, "moves", log, LimiterRules(noRule, chatRule, groupRule))
	b := newTestLimiter(t, jsB, "moves", log, LimiterRules(noRule, chatRule, groupRule))

	tests := []struct {
		name string
		chat tg.ChatID
		rule limit.Rule // the slower rule that applies
	}{
		{"private chat", tg.ID(42), chatRule},
		{"group", tg.ID(-100123), groupRule},
		{"channel by username", tg.Username("news_channel"), groupRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 { // A spends the burst
				if err := a.Wait(ctx, tt.chat); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // the chat moved to B
				if err := b.Wait(ctx, tt.chat); err != nil {
					t.Fatal(err)
				}
			}
			slots := log.of(tt.chat)
			checkRule(t, tt.name, slots, tt.rule)
			if gap := time.Duration(slots[3] - slots[0]); gap < tt.rule.Every {
				t.Fatalf("B's first turn came %v after A's burst began, want at least %v: a fresh burst", gap, tt.rule.Every)
			}
		})
	}
	fresh := tg.ID(7)
	start := time.Now()
	if err := b.Wait(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	// Its slot is the moment of the global write, a few round trips after
	// the call; a fresh burst would wait a chat interval.
	if s := log.of(fresh); len(s) != 1 || time.Unix(0, s[0]).Sub(start) >= chatRule.Every {
		t.Fatalf("a fresh chat's turn %v after the call, want at once", time.Unix(0, s[0]).Sub(start))
	}
}

// A call answered later than the margin after its slot (a slow request)
// counts from its answer: the chat's next turn comes at least the rule's
// interval after the answer, for a chat's rule and for a group's. Without
// Settled it would come the interval after the slot plus the margin,
// closer than the rule allows to where the slow call reached Telegram.
func TestLimiterCountsASlowCallFromItsAnswer(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	rule := limit.Rule{Every: 300 * time.Millisecond, Burst: 1}
	const margin = 20 * time.Millisecond
	const slow = 150 * time.Millisecond // the request's time on the way, past the margin
	tests := []struct {
		name              string
		chat              tg.ChatID
		chatRule, groupRl limit.Rule
	}{
		{"private chat", tg.ID(42), rule, noRule},
		{"group", tg.ID(-100123), noRule, rule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &turnLog{}
			l := newTestLimiter(t, js, "slow-"+strings.ReplaceAll(tt.name, " ", "-"), log,
				LimiterRules(noRule, tt.chatRule, tt.groupRl), LimiterMargin(margin))
			if err := l.Wait(ctx, tt.chat); err != nil {
				t.Fatal(err)
			}
			first := time.Unix(0, log.of(tt.chat)[0])
			time.Sleep(time.Until(first.Add(slow)))
			answered := time.Now()
			l.Settled(tt.chat)
			if err := l.Wait(ctx, tt.chat); err != nil {
				t.Fatal(err)
			}
			second := time.Unix(0, log.of(tt.chat)[1])
			if gap := second.Sub(answered); gap < rule.Every {
				t.Fatalf("next turn %v after the slow call's answer (%v after its slot), want at least %v",
					gap, second.Sub(first), rule.Every)
			}
		})
	}
}

// A pause written by one instance holds the other: a chat's pause holds
// that chat, a global pause (chat zero) holds every chat, also when the
// other instance remembers the key from before and, with no rule to
// charge, writes nothing that would find out.
func TestLimiterPauseSeenByOtherInstance(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, jsA := natstest.Connect(t, node.URL())
	_, jsB := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	defaults := LimiterRules(limit.Rule{Every: limit.DefaultGlobalEvery, Burst: 1},
		limit.Rule{Every: time.Second, Burst: 3}, limit.Rule{Every: 3 * time.Second, Burst: 3})
	tests := []struct {
		name  string
		rules LimiterOption
		pause tg.ChatID
		chat  tg.ChatID
	}{
		{"chat", defaults, tg.ID(5), tg.ID(5)},
		{"global", defaults, tg.ChatID{}, tg.ID(6)},
		{"chat without rules", LimiterRules(noRule, noRule, noRule), tg.ID(5), tg.ID(5)},
		{"global without rules", LimiterRules(noRule, noRule, noRule), tg.ChatID{}, tg.ID(6)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bucket := fmt.Sprintf("pause%d", i)
			log := &turnLog{}
			a := newTestLimiter(t, jsA, bucket, nil, tt.rules)
			b := newTestLimiter(t, jsB, bucket, log, tt.rules)
			if err := b.Wait(ctx, tt.chat); err != nil { // B remembers the keys
				t.Fatal(err)
			}
			const d = 400 * time.Millisecond
			before := time.Now()
			a.Pause(tt.pause, d)
			if err := b.Wait(ctx, tt.chat); err != nil {
				t.Fatal(err)
			}
			slot := time.Unix(0, log.of(tt.chat)[1])
			if slot.Before(before.Add(d)) {
				t.Fatalf("B's turn %v after the pause began, want at least %v", slot.Sub(before), d)
			}
			if st := a.Stats(); st.Failures != 0 {
				t.Fatalf("pause writes failed: %+v", st)
			}
		})
	}
}

// A Wait that cannot have its turn before ctx's deadline returns
// DeadlineExceeded at once and reserves nothing; a cancelled Wait returns
// promptly with an error wrapping context.Canceled.
func TestLimiterContext(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	global := limit.Rule{Every: time.Second, Burst: 1}
	l := newTestLimiter(t, js, "context", nil, LimiterRules(global, limit.Rule{Every: time.Second, Burst: 1}, noRule))
	revs := func() (uint64, uint64) {
		g, err := l.b.get(ctx, globalKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := l.b.get(ctx, chatKey(tg.ID(1)))
		if err != nil {
			t.Fatal(err)
		}
		return g.rev, c.rev
	}

	t.Run("deadline before the global slot", func(t *testing.T) {
		if err := l.Wait(ctx, tg.ID(1)); err != nil { // spends the global and the chat's burst
			t.Fatal(err)
		}
		g0, c0 := revs()
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := l.Wait(short, tg.ID(2)) // ready itself; the global slot is a second away
		if !errors.Is(err, context.DeadlineExceeded) || short.Err() != nil {
			t.Fatalf("err = %v (ctx %v), want DeadlineExceeded before the deadline", err, short.Err())
		}
		if g, c := revs(); g != g0 || c != c0 {
			t.Fatalf("revisions moved: global %d→%d, chat %d→%d", g0, g, c0, c)
		}
		t.Logf("returned after %v", time.Since(start).Round(time.Microsecond))
	})

	t.Run("deadline before the chat is ready", func(t *testing.T) {
		g0, c0 := revs()
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := l.Wait(short, tg.ID(1)); !errors.Is(err, context.DeadlineExceeded) || short.Err() != nil {
			t.Fatalf("err = %v (ctx %v), want DeadlineExceeded before the deadline", err, short.Err())
		}
		if g, c := revs(); g != g0 || c != c0 {
			t.Fatalf("revisions moved: global %d→%d, chat %d→%d", g0, g, c0, c)
		}
	})

	t.Run("cancel while waiting", func(t *testing.T) {
		l.Pause(tg.ID(3), 10*time.Second)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- l.Wait(cctx, tg.ID(3)) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return within 5 s of the cancel")
		}
	})

	t.Run("done before the call", func(t *testing.T) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		before := l.Stats()
		if err := l.Wait(done, tg.ID(9)); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if after := l.Stats(); after.Reads != before.Reads || after.Writes != before.Writes {
			t.Fatalf("KV touched: %+v → %+v", before, after)
		}
	})
}

// When KV is gone, Wait returns an error (the call is not made), and
// Pause reports its failure.
func TestLimiterKVDown(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	var errs []error
	var mu sync.Mutex
	l := newTestLimiter(t, js, "down", nil, LimiterTimeout(200*time.Millisecond),
		LimiterOnError(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
	if err := l.Wait(ctx, tg.ID(1)); err != nil {
		t.Fatal(err)
	}
	node.Shutdown()
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := l.Wait(short, tg.ID(2)); err == nil {
		t.Fatal("Wait with the server down gave a turn")
	} else {
		t.Logf("Wait: %v", err)
	}
	l.Pause(tg.ID(2), time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 1 || l.Stats().Failures != 1 {
		t.Fatalf("Pause errors: %v, failures %d", errs, l.Stats().Failures)
	}
	// The pause holds locally all the same.
	if at := l.localPause(tg.ID(2)); time.Until(time.Unix(0, at)) <= 0 {
		t.Fatal("the pause was not kept locally")
	}
}

// A foreign value in the bucket is an error, not a turn.
func TestLimiterForeignState(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	l := newTestLimiter(t, js, "foreign", nil)
	kv, err := js.KeyValue(ctx, "foreign")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, chatKey(tg.ID(4)), []byte("not a state")); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx, tg.ID(4)); !errors.Is(err, ErrLimiterState) {
		t.Fatalf("err = %v, want ErrLimiterState", err)
	}
}

func TestNewLimiterOptions(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	tests := []struct {
		opt    LimiterOption
		option string
	}{
		{LimiterBucket("a b"), "LimiterBucket"},
		{LimiterReplicas(0), "LimiterReplicas"},
		{LimiterRules(limit.Rule{Every: -1}, noRule, noRule), "LimiterRules"},
		{LimiterRules(noRule, limit.Rule{Every: time.Second, Burst: -1}, noRule), "LimiterRules"},
		{LimiterMargin(-time.Millisecond), "LimiterMargin"},
		{LimiterMargin(2 * time.Second), "LimiterMargin"},
		{LimiterTimeout(0), "LimiterTimeout"},
	}
	for _, tt := range tests {
		_, err := NewLimiter(ctx, js, tt.opt)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != tt.option {
			t.Errorf("%s: err = %v, want an *OptionError", tt.option, err)
		}
	}
	if _, err := NewLimiter(ctx, nil); err == nil {
		t.Error("nil JetStream accepted")
	}
	l := newTestLimiter(t, js, "defaults", nil)
	if l.global.Every != limit.DefaultGlobalEvery || l.chat.Burst != limit.DefaultChatBurst || l.group.Every != limit.DefaultGroupEvery {
		t.Fatalf("defaults: %+v %+v %+v", l.global, l.chat, l.group)
	}
}

// Waits queued for the global key that give up (cancelled while queued,
// while leading a batch, or while sleeping) never block the others: every
// Wait returns, the granted slots keep the rule, and the queue is empty
// afterwards.
func TestLimiterQueueWithCancellations(t *testing.T) {
	leaktest.Check(t)
	node := natstest.Server(t)
	_, js := natstest.Connect(t, node.URL())
	ctx := testCtx(t)
	rule := limit.Rule{Every: 10 * time.Millisecond, Burst: 1}
	log := &turnLog{}
	l := newTestLimiter(t, js, "queue", log, LimiterRules(rule, noRule, noRule))
	var (
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		granted, cancelled int
	)
	for i := range 60 {
		wg.Go(func() {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if i%2 == 1 {
				stop := time.AfterFunc(time.Duration(i)*3*time.Millisecond, cancel)
				defer stop.Stop()
			}
			err := l.Wait(wctx, tg.ID(int64(i+1)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				granted++
			case errors.Is(err, context.Canceled):
				cancelled++
			default:
				t.Errorf("Wait %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	checkRule(t, "global", log.every(), rule)
	l.gmu.Lock()
	left, busy := len(l.gq), l.gbusy
	l.gmu.Unlock()
	if left != 0 || busy {
		t.Fatalf("queue after the Waits: %d queued, leader %v", left, busy)
	}
	if granted < 30 || granted+cancelled != 60 {
		t.Fatalf("%d granted, %d cancelled of 60", granted, cancelled)
	}
	if err := l.Wait(ctx, tg.ID(1000)); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d granted, %d cancelled; %+v", granted, cancelled, l.Stats())
}

// End to end: three clients (three instances of one bot), each with
// limit.Control on its own Limiter and NATS connection, send to the same
// chats at once through the emulator with flood control on. The
// emulator's limits are the limiters' rules (faster than Telegram's, to
// keep the test short): no 429, every message stored.
func TestLimiterInstancesNo429(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of load")
	}
	leaktest.Check(t)
	node := natstest.Server(t)
	ctx := testCtx(t)
	flood := tgtest.FloodLimits{PerSecond: 50, PerChat: 10, ChatBurst: 3, GroupPerMinute: 120}
	global := limit.Rule{Every: time.Second / 50, Burst: 1} // the emulator allows a burst of 50 on top
	chat := limit.Rule{Every: time.Second / 10, Burst: 3}   // the emulator's exactly
	group := limit.Rule{Every: time.Minute / 120, Burst: 3} // the emulator allows a burst of 120
	emu := tgtest.NewServer(tgtest.WithTB(t), tgtest.WithFlood(flood))

	const instances = 3
	clients := make([]*tg.Client, instances)
	limiters := make([]*Limiter, instances)
	for i := range instances {
		_, js := natstest.Connect(t, node.URL())
		limiters[i] = newTestLimiter(t, js, "e2e", nil, LimiterRules(global, chat, group))
		ctl, err := limit.New(limit.WithLimiter(limiters[i]))
		if err != nil {
			t.Fatal(err)
		}
		c, err := tg.NewClient(emu.Token(), tg.WithBaseURL(emu.URL()), tg.WithMiddleware(ctl.Middleware()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		clients[i] = c
	}
	type plan struct {
		chat int64
		n    int
	}
	var plans []plan
	for i := range 10 {
		plans = append(plans, plan{emu.NewUser(fmt.Sprintf("user%d", i)).ChatID(), 12})
	}
	for i := range 2 {
		plans = append(plans, plan{emu.NewGroup(fmt.Sprintf("group%d", i)).ID(), 6})
	}
	total := 0
	for _, p := range plans {
		total += p.n
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range plans {
		for i, c := range clients { // every instance sends to every chat at once
			wg.Go(func() {
				for k := i; k < p.n; k += instances {
					if _, err := c.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(p.chat), Text: fmt.Sprint(k)}); err != nil {
						t.Errorf("instance %d, chat %d, message %d: %v", i, p.chat, k, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	c := emu.Counters()
	if c.FloodRejections != 0 {
		t.Fatalf("%d 429s from the emulator's flood control, want none", c.FloodRejections)
	}
	sent := int64(0)
	for _, p := range plans {
		sent += c.MessagesPerChat[p.chat]
	}
	if sent != int64(total) {
		t.Fatalf("the emulator stored %d messages, want %d", sent, total)
	}
	var ops, conflicts uint64
	for _, l := range limiters {
		st := l.Stats()
		ops += st.Reads + st.Writes
		conflicts += st.Conflicts
	}
	t.Logf("%d messages to %d chats from %d instances in %v (%.1f/s, the global rule allows 50/s): no 429; %.1f KV ops and %.1f refused writes per message",
		total, len(plans), instances, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(),
		float64(ops)/float64(total), float64(conflicts)/float64(total))
}

// BenchmarkLimiterWait measures one Wait against an in-process server,
// with rules that never make it sleep: the KV round trips alone. kv-ops/op
// counts reads and writes.
//
//	go -C jetstream test -run '^$' -bench LimiterWait -benchtime 2000x .
func BenchmarkLimiterWait(b *testing.B) {
	node := natstest.Server(b)
	_, jsA := natstest.Connect(b, node.URL())
	_, jsB := natstest.Connect(b, node.URL())
	fast := limit.Rule{Every: time.Nanosecond, Burst: 1}
	ctx := context.Background()
	// kvOps sums the KV round trips and conflicts of limiters.
	kvOps := func(ls ...*Limiter) (ops, conflicts uint64) {
		for _, l := range ls {
			st := l.Stats()
			ops += st.Reads + st.Writes
			conflicts += st.Conflicts
		}
		return ops, conflicts
	}
	report := func(b *testing.B, ops, conflicts uint64) {
		b.ReportMetric(float64(ops)/float64(b.N), "kv-ops/op")
		b.ReportMetric(float64(conflicts)/float64(b.N), "conflicts/op")
	}
	b.Run("chat-known", func(b *testing.B) {
		l := newTestLimiter(b, jsA, "bench1", nil, LimiterRules(fast, fast, fast))
		for i := range 100 { // warm: this instance wrote each chat last
			_ = l.Wait(ctx, tg.ID(int64(i+1)))
		}
		ops0, conflicts0 := kvOps(l)
		b.ResetTimer()
		for i := range b.N {
			if err := l.Wait(ctx, tg.ID(int64(i%100+1))); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		ops, conflicts := kvOps(l)
		report(b, ops-ops0, conflicts-conflicts0)
	})
	b.Run("chat-new", func(b *testing.B) {
		l := newTestLimiter(b, jsA, "bench2", nil, LimiterRules(fast, fast, fast))
		for i := range b.N {
			if err := l.Wait(ctx, tg.ID(int64(i+1))); err != nil {
				b.Fatal(err)
			}
		}
		ops, conflicts := kvOps(l)
		report(b, ops, conflicts)
	})
	b.Run("two-instances", func(b *testing.B) {
		a := newTestLimiter(b, jsA, "bench3", nil, LimiterRules(fast, fast, fast))
		c := newTestLimiter(b, jsB, "bench3", nil, LimiterRules(fast, fast, fast))
		var wg sync.WaitGroup
		for k, l := range []*Limiter{a, c} { // each its own chats; the global key is contended
			wg.Go(func() {
				for i := k; i < b.N; i += 2 {
					if err := l.Wait(ctx, tg.ID(int64(i%100+1+1000*k))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		ops, conflicts := kvOps(a, c)
		report(b, ops, conflicts)
	})
}

// A bot running as several instances shares its sessions and its flood
// limits through one NATS deployment: every instance builds the same two
// values on its own connection.
func ExampleNewLimiter() {
	run := func(ctx context.Context, js natsjs.JetStream, token string) error {
		lim, err := NewLimiter(ctx, js) // Telegram's limits, shared by all instances
		if err != nil {
			return err
		}
		store, err := NewSessionStore(ctx, js, StoreReplicas(3))
		if err != nil {
			return err
		}
		ctl, err := limit.New(limit.WithLimiter(lim)) // an invalid option is an error
		if err != nil {
			return err
		}
		client, err := tg.NewClient(token, tg.WithMiddleware(ctl.Middleware()))
		if err != nil {
			return err
		}
		defer client.Close()
		type cart struct{ Items []string }
		carts := session.New[cart](store) // commits are revision-checked across instances
		_ = carts
		return nil
	}
	_ = run
}
