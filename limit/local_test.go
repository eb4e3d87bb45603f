package limit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
	"github.com/tidygram/tidygram/tg"
)

// These tests run in a synctest bubble: time is fake and moves only when
// every goroutine waits, so release times are exact and no test sleeps.

const ms = time.Millisecond

var (
	user  = tg.ID(100_000_001)
	user2 = tg.ID(100_000_002)
	group = tg.ID(-1_001_000_000_001)
)

func TestLocalRules(t *testing.T) {
	g := DefaultGlobalEvery
	tests := []struct {
		name  string
		opts  []LocalOption
		chats []tg.ChatID // waited for one after the other
		want  []time.Duration
	}{
		{
			name:  "private chat: burst of 3, then 1/s",
			chats: []tg.ChatID{user, user, user, user, user},
			want:  []time.Duration{0, g, 2 * g, time.Second, 2 * time.Second},
		},
		{
			name:  "group: burst of 3, then 20/min",
			chats: []tg.ChatID{group, group, group, group, group},
			want:  []time.Duration{0, g, 2 * g, 3 * time.Second, 6 * time.Second},
		},
		{
			name:  "username counts as a group",
			chats: []tg.ChatID{tg.Username("chan"), tg.Username("chan"), tg.Username("chan"), tg.Username("chan")},
			want:  []time.Duration{0, g, 2 * g, 3 * time.Second},
		},
		{
			name:  "chats interleaved: global spacing only",
			chats: []tg.ChatID{user, user2, user, user2, user, user2},
			want:  []time.Duration{0, g, 2 * g, 3 * g, 4 * g, 5 * g},
		},
		{
			name:  "no chat: global rule only",
			chats: []tg.ChatID{{}, {}, {}, {}, {}},
			want:  []time.Duration{0, g, 2 * g, 3 * g, 4 * g},
		},
		{
			name:  "custom rules",
			opts:  []LocalOption{WithGlobal(Rule{}), WithChat(Per(2, time.Second, 1))},
			chats: []tg.ChatID{user, user, user},
			want:  []time.Duration{0, 500 * ms, time.Second},
		},
		{
			name:  "global burst",
			opts:  []LocalOption{WithGlobal(Per(10, time.Second, 2)), WithChat(Rule{})},
			chats: []tg.ChatID{user, user, user, user},
			want:  []time.Duration{0, 0, 100 * ms, 200 * ms},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := opterrtest.Must(NewLocal(tt.opts...))
				start := time.Now()
				var got []time.Duration
				for _, c := range tt.chats {
					if err := l.Wait(context.Background(), c); err != nil {
						t.Fatal(err)
					}
					got = append(got, time.Since(start))
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("released at %v, want %v", got, tt.want)
				}
			})
		})
	}
}

// TestLocalGlobalRate lets 300 chats wait at once: releases come one per
// global interval, at most 30 (+1 at the edge) in any second.
func TestLocalGlobalRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := opterrtest.Must(NewLocal())
		const n = 300
		start := time.Now()
		var mu sync.Mutex
		var got []time.Duration
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if err := l.Wait(context.Background(), tg.ID(int64(i+1))); err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(got)
		if last, want := got[n-1], (n-1)*DefaultGlobalEvery; last != want {
			t.Fatalf("last release at %v, want %v", last, want)
		}
		if max := maxInWindow(got, time.Second); max > 30 {
			t.Fatalf("%d releases within one second, want at most 30", max)
		}
	})
}

// maxInWindow returns the most sorted times within any half-open window
// [t, t+w).
func maxInWindow(times []time.Duration, w time.Duration) int {
	best, j := 0, 0
	for i := range times {
		for times[i]-times[j] >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func TestLocalPause(t *testing.T) {
	g := DefaultGlobalEvery
	tests := []struct {
		name  string
		pause tg.ChatID
		want  map[tg.ChatID][]time.Duration // possible releases of a call to each chat
	}{
		{"chat paused", user, map[tg.ChatID][]time.Duration{user: {5 * time.Second}, user2: {0}}},
		// Both wake at the end of the pause; either may take the first turn.
		{"everything paused", tg.ChatID{}, map[tg.ChatID][]time.Duration{
			user:  {5 * time.Second, 5*time.Second + g},
			user2: {5 * time.Second, 5*time.Second + g},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := opterrtest.Must(NewLocal())
				l.Pause(tt.pause, 5*time.Second)
				start := time.Now()
				got := make(map[tg.ChatID]time.Duration)
				var mu sync.Mutex
				var wg sync.WaitGroup
				for _, c := range []tg.ChatID{user, user2} {
					wg.Go(func() {
						if err := l.Wait(context.Background(), c); err != nil {
							t.Error(err)
						}
						mu.Lock()
						got[c] = time.Since(start)
						mu.Unlock()
					})
				}
				wg.Wait()
				for c, want := range tt.want {
					if !slices.Contains(want, got[c]) {
						t.Errorf("chat %v released at %v, want one of %v", c, got[c], want)
					}
				}
				if got[user] == got[user2] && tt.pause.IsZero() {
					t.Errorf("both released at %v: the global rule was not applied", got[user])
				}
			})
		})
	}
}

func TestLocalContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		cancel  time.Duration // cancel after; 0: never
		wantErr error
		wantAt  time.Duration // when Wait returns
	}{
		{
			name:    "cancel ends the wait at once",
			ctx:     func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			cancel:  10 * ms,
			wantErr: context.Canceled,
			wantAt:  10 * ms,
		},
		{
			name: "turn after the deadline fails at once",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Second)
			},
			wantErr: context.DeadlineExceeded,
			wantAt:  0,
		},
		{
			name: "already cancelled",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := opterrtest.Must(NewLocal())
				l.Pause(user, time.Hour)
				ctx, cancel := tt.ctx()
				defer cancel()
				if tt.cancel > 0 {
					time.AfterFunc(tt.cancel, cancel)
				}
				start := time.Now()
				err := l.Wait(ctx, user)
				if !errors.Is(err, tt.wantErr) || time.Since(start) != tt.wantAt {
					t.Fatalf("Wait = %v after %v; want %v after %v", err, time.Since(start), tt.wantErr, tt.wantAt)
				}
			})
		})
	}
}

// TestLocalCancelGivesTurnBack: a cancelled wait leaves the global queue;
// the next caller gets the turn it would have had.
func TestLocalCancelGivesTurnBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := opterrtest.Must(NewLocal(WithGlobal(Per(1, time.Second, 1))))
		ctx := context.Background()
		if err := l.Wait(ctx, user); err != nil { // takes the turn at 0
			t.Fatal(err)
		}
		start := time.Now()
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- l.Wait(cctx, user2) }() // would go at 1s
		time.Sleep(500 * ms)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait = %v", err)
		}
		if err := l.Wait(ctx, tg.ID(3)); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("next caller released at %v, want 1s (the cancelled turn)", got)
		}
	})
}

// TestLocalIdleStatesDropped: chats' states are dropped once idle, by the
// calls that pass later; no goroutine does it.
func TestLocalIdleStatesDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := opterrtest.Must(NewLocal(WithGlobal(Rule{})))
		for i := range 100 {
			if err := l.Wait(ctx, tg.ID(int64(i+1))); err != nil {
				t.Fatal(err)
			}
		}
		if n := l.Len(); n != 100 {
			t.Fatalf("Len = %d, want 100", n)
		}
		time.Sleep(2 * time.Second) // every bucket is full again
		for i := range 50 {
			if err := l.Wait(ctx, tg.ID(int64(1000+i))); err != nil {
				t.Fatal(err)
			}
		}
		if n := l.Len(); n != 50 {
			t.Fatalf("Len = %d, want 50: the 100 idle states should be gone", n)
		}
		// A paused chat is not idle.
		l.Pause(user, time.Hour)
		time.Sleep(2 * time.Second)
		for i := range 200 {
			_ = l.Wait(ctx, tg.ID(int64(5000+i)))
		}
		l.mu.Lock()
		_, kept := l.chats[user]
		l.mu.Unlock()
		if !kept {
			t.Fatal("a paused chat's state was dropped")
		}
	})
}

// TestLocalMaxChats: WithMaxChats is not a hard cap. Constrained states
// over it are all kept (dropping one would give that chat a fresh burst);
// once they are idle, the next call over the cap drops every one of them.
func TestLocalMaxChats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := opterrtest.Must(NewLocal(WithGlobal(Rule{}), WithMaxChats(10)))
		for i := range 1000 {
			if err := l.Wait(ctx, tg.ID(int64(i+1))); err != nil {
				t.Fatal(err)
			}
		}
		if n := l.Len(); n != 1000 {
			t.Fatalf("Len = %d, want 1000: every chat is constrained for a second", n)
		}
		time.Sleep(DefaultChatEvery) // every bucket is full again
		if err := l.Wait(ctx, user); err != nil {
			t.Fatal(err)
		}
		if n := l.Len(); n != 1 {
			t.Fatalf("Len = %d, want 1: over the cap every idle state goes at once", n)
		}
	})
}

// TestLocalSettled: the chat rule counts from the answer, also when the
// call took longer than the chat's refill, so that its state went idle and
// other calls dropped it while the call was in flight.
func TestLocalSettled(t *testing.T) {
	tests := []struct {
		name  string
		takes time.Duration // from Wait to the answer
		other int           // calls to other chats meanwhile
	}{
		{"quick answer", 300 * ms, 0},
		{"slow answer, state dropped meanwhile", 1500 * ms, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				l := opterrtest.Must(NewLocal(WithGlobal(Rule{}), WithChat(Per(1, time.Second, 1))))
				start := time.Now()
				_ = l.Wait(ctx, user)
				time.Sleep(tt.takes)
				for i := range tt.other {
					_ = l.Wait(ctx, tg.ID(int64(1000+i)))
				}
				l.Settled(user)
				_ = l.Wait(ctx, user)
				if got, want := time.Since(start), tt.takes+time.Second; got != want {
					t.Fatalf("second call at %v, want %v (1s after the first answer)", got, want)
				}
				n := l.Len()
				l.Settled(tg.ChatID{}) // no chat: nothing to do
				if l.Len() != n {
					t.Fatalf("Settled without a chat created a state: Len = %d, was %d", l.Len(), n)
				}
			})
		})
	}
}

// TestLocalThrottledChatKeptAmongManyActive: 10,001 other chats get a
// message every second (each a new chat, so each state is constrained
// for a second: more constrained chats than DefaultMaxChats), while one
// chat sends as fast as Wait lets it. Its state is never dropped while it
// is constrained, so after its burst of 3 it gets exactly one message per
// second, not a fresh burst whenever the crowd pushed its state out.
func TestLocalThrottledChatKeptAmongManyActive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			crowd   = DefaultMaxChats + 1
			seconds = 8
		)
		// No global rule: it would hold 10,001 messages a second back.
		l := opterrtest.Must(NewLocal(WithGlobal(Rule{})))
		ctx := context.Background()
		start := time.Now()
		end := start.Add(seconds*time.Second - 500*ms) // between two turns: no tie with the deadline
		var wg sync.WaitGroup
		wg.Go(func() { // the crowd, half a second out of step with the hot chat
			next := int64(1)
			for s := range seconds {
				time.Sleep(time.Until(start.Add(time.Duration(s)*time.Second + 500*ms)))
				for range crowd {
					if err := l.Wait(ctx, tg.ID(next)); err != nil {
						t.Error(err)
						return
					}
					next++
				}
			}
		})
		var got []time.Duration
		wg.Go(func() {
			wctx, cancel := context.WithDeadline(ctx, end)
			defer cancel()
			for l.Wait(wctx, user) == nil {
				got = append(got, time.Since(start))
			}
		})
		wg.Wait()
		// Burst of 3 at 0, then one a second: 3 + (seconds-1) in all.
		if want := DefaultChatBurst + seconds - 1; len(got) != want {
			t.Errorf("hot chat got %d messages in %d s, want %d: %v", len(got), seconds, want, got)
		}
		for i := DefaultChatBurst; i < len(got); i++ {
			if gap := got[i] - got[i-1]; gap < DefaultChatEvery {
				t.Fatalf("messages %d and %d to the hot chat %v apart, want at least %v: %v", i-1, i, gap, DefaultChatEvery, got)
			}
		}
		if n := maxInWindow(got[DefaultChatBurst-1:], time.Second); n > 1 {
			t.Fatalf("%d messages within one second after the burst, want 1: %v", n, got)
		}
		t.Logf("hot chat: %d messages in %d s among %d other chats a second; %d states held", len(got), seconds, crowd, l.Len())
	})
}
