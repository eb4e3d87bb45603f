package tgtest

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// FloodLimits are the send limits flood control enforces, after Telegram's
// FAQ. Zero fields take the defaults shown.
type FloodLimits struct {
	PerSecond      float64 `json:"per_second,omitempty"`       // messages/s per bot; default 30
	PerChat        float64 `json:"per_chat,omitempty"`         // messages/s per chat; default 1
	ChatBurst      int     `json:"chat_burst,omitempty"`       // burst allowed per chat; default 3
	GroupPerMinute int     `json:"group_per_minute,omitempty"` // messages/min per group; default 20
}

func (l FloodLimits) withDefaults() FloodLimits {
	if l.PerSecond <= 0 {
		l.PerSecond = 30
	}
	if l.PerChat <= 0 {
		l.PerChat = 1
	}
	if l.ChatBurst <= 0 {
		l.ChatBurst = 3
	}
	if l.GroupPerMinute <= 0 {
		l.GroupPerMinute = 20
	}
	return l
}

type bucket struct {
	tokens float64
	last   time.Time
}

// refill tops the bucket up at rate tokens/s to at most burst and returns
// how long until n tokens are there (0 if they are).
func (b *bucket) refill(now time.Time, rate, burst float64, n int) time.Duration {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if missing := float64(n) - b.tokens; missing > 0 {
		return time.Duration(missing / rate * float64(time.Second))
	}
	return 0
}

// floodControl is a set of token buckets: one for the bot, one per chat
// and one per group. Sends that would overdraw any are answered 429.
type floodControl struct {
	mu      sync.Mutex
	on      bool
	limits  FloodLimits
	global  bucket
	chats   map[int64]*bucket
	groups  map[int64]*bucket
	nowFunc func() time.Time
}

func (f *floodControl) init(l *FloodLimits) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on = l != nil
	if l != nil {
		f.limits = l.withDefaults()
	} else {
		f.limits = FloodLimits{}.withDefaults()
	}
	f.global = bucket{}
	f.chats = make(map[int64]*bucket)
	f.groups = make(map[int64]*bucket)
	if f.nowFunc == nil {
		f.nowFunc = time.Now
	}
}

func (f *floodControl) set(on bool, l FloodLimits) {
	f.mu.Lock()
	f.on, f.limits = on, l.withDefaults()
	f.global = bucket{}
	clear(f.chats)
	clear(f.groups)
	f.mu.Unlock()
}

// allow takes a send token for chat (n from the bot's bucket: an album of
// n messages) or returns a 429 error with the retry_after (whole seconds,
// at least 1) after which all would be there.
func (f *floodControl) allow(chat int64, group bool, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.on {
		return nil
	}
	l := f.limits
	now := f.nowFunc()
	burst := max(1, l.PerSecond)
	n = max(1, min(n, int(burst)))
	wait := f.global.refill(now, l.PerSecond, burst, n)
	cb := f.chats[chat]
	if cb == nil {
		cb = &bucket{}
		f.chats[chat] = cb
	}
	wait = max(wait, cb.refill(now, l.PerChat, float64(l.ChatBurst), 1))
	var gb *bucket
	if group {
		if gb = f.groups[chat]; gb == nil {
			gb = &bucket{}
			f.groups[chat] = gb
		}
		wait = max(wait, gb.refill(now, float64(l.GroupPerMinute)/60, float64(l.GroupPerMinute), 1))
	}
	if wait > 0 {
		return &apiError{Code: 429, Desc: "Too Many Requests: retry after " + strconv.Itoa(retrySeconds(wait)), RetryAfter: retrySeconds(wait)}
	}
	f.global.tokens -= float64(n)
	cb.tokens--
	if gb != nil {
		gb.tokens--
	}
	return nil
}

func retrySeconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }
