package demo

import (
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/tg"
)

// Histogram counts durations in log-linear buckets: exact below 64 ns,
// then 64 buckets per power of two up to 2^42 ns (about 73 minutes; a
// longer duration counts as 2^42 ns). A quantile is the middle of its
// bucket, within 0.8% of the exact (nearest-rank) quantile of what was
// observed. Its memory is fixed (2,369 counters, 19 KB); it is safe for
// concurrent use.
type Histogram struct {
	buckets [histBuckets]atomic.Uint64
}

const (
	histSubBits = 6 // 2^6 buckets per power of two: widths ≤ 1/64 of their values
	histSub     = 1 << histSubBits
	histMaxBits = 42 // durations from 2^42 ns on share the last bucket
	// The exact group [0, 64 ns), a group per power of two from 2^6 to
	// 2^41, and the overflow bucket.
	histBuckets = (histMaxBits-histSubBits+1)*histSub + 1
)

func histIndex(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	v := uint64(d)
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v in [2^e, 2^(e+1))
	if e >= histMaxBits {
		return histBuckets - 1
	}
	sub := int(v>>(e-histSubBits)) - histSub // v's next 6 bits
	return (e-histSubBits+1)*histSub + sub
}

// histValue returns the middle of bucket i (the overflow bucket: its lower
// bound, 2^42 ns).
func histValue(i int) time.Duration {
	if i < histSub {
		return time.Duration(i)
	}
	if i >= histBuckets-1 {
		return time.Duration(1) << histMaxBits
	}
	g, sub := i/histSub, i%histSub
	width := uint64(1) << (g - 1)
	low := uint64(histSub+sub) << (g - 1)
	return time.Duration(low + width/2)
}

// Observe counts d.
func (h *Histogram) Observe(d time.Duration) { h.buckets[histIndex(d)].Add(1) }

// Snapshot returns the current counts.
func (h *Histogram) Snapshot() HistSnapshot {
	var s HistSnapshot
	for i := range h.buckets {
		s[i] = h.buckets[i].Load()
	}
	return s
}

// HistSnapshot is a Histogram's counts at one moment.
type HistSnapshot [histBuckets]uint64

// Sub returns the counts observed since old.
func (s HistSnapshot) Sub(old HistSnapshot) HistSnapshot {
	for i := range s {
		s[i] -= old[i]
	}
	return s
}

// Count returns the number of observations.
func (s HistSnapshot) Count() uint64 {
	var n uint64
	for _, c := range s {
		n += c
	}
	return n
}

// Quantile returns the q-quantile (0 < q ≤ 1): the middle of the bucket
// holding the observation of rank ⌈q·n⌉, within 0.8% of that
// observation; 0 without observations.
func (s HistSnapshot) Quantile(q float64) time.Duration {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(n))), 1)
	var seen uint64
	for i, c := range s {
		seen += c
		if seen >= rank && c > 0 {
			return histValue(i)
		}
	}
	return histValue(histBuckets - 1)
}

// Recorder observes a bot (an observe.Observer: tidygram.WithObserver):
// which updates were
// handled and how often, how long handlers ran, handler errors and poll
// errors. Its memory grows by one bit per update id (update ids are
// consecutive), so a long soak does not mistake it for a leak.
type Recorder struct {
	observe.Nop
	Latency Histogram

	received   atomic.Int64 // updates taken from the source, duplicates included
	redelivers atomic.Int64 // recognised as duplicates by the runtime
	handled    atomic.Int64 // distinct update ids handled
	twice      atomic.Int64 // handler runs for an id already handled
	errors     atomic.Int64
	pollErrors atomic.Int64
	leaked     atomic.Int64 // goroutines reported outliving their update

	mu   sync.Mutex
	base int64    // first update id seen
	bits []uint64 // handled ids, relative to base
	errs []string // first handler errors
}

// UpdateReceived implements observe.Observer.
func (r *Recorder) UpdateReceived(_ *tg.Update, dup bool) {
	r.received.Add(1)
	if dup {
		r.redelivers.Add(1)
	}
}

// UpdateHandled implements observe.Observer.
func (r *Recorder) UpdateHandled(u *tg.Update, route string, d time.Duration, err error) {
	r.Latency.Observe(d)
	if err != nil {
		r.errors.Add(1)
		r.noteError(route + ": " + err.Error())
	}
	if r.mark(u.UpdateID) {
		r.handled.Add(1)
	} else {
		r.twice.Add(1)
	}
}

// PollFailed implements observe.Observer.
func (r *Recorder) PollFailed(error, time.Duration) { r.pollErrors.Add(1) }

const maxNotes = 10

func (r *Recorder) noteError(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < maxNotes {
		r.errs = append(r.errs, s)
	}
}

// mark records id as handled and reports whether it was new.
func (r *Recorder) mark(id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bits == nil {
		r.base = id
	}
	if id < r.base { // ids below the first one seen: shift the window down
		shift := (r.base - id + 63) / 64
		r.bits = append(make([]uint64, shift), r.bits...)
		r.base -= shift * 64
	}
	off := id - r.base
	w := int(off / 64)
	for len(r.bits) <= w {
		r.bits = append(r.bits, 0)
	}
	bit := uint64(1) << (off % 64)
	if r.bits[w]&bit != 0 {
		return false
	}
	r.bits[w] |= bit
	return true
}

// Leaked implements observe.Observer: counts a per-update leak report.
func (r *Recorder) Leaked(rep leak.Report) {
	r.leaked.Add(int64(rep.Count))
	r.noteError(fmt.Sprintf("%d goroutines of %s outlived update %d", rep.Count, rep.Handler, rep.UpdateID))
}

// BotStats is a snapshot of what a Recorder saw.
type BotStats struct {
	Received     int64    // updates taken from the source, redeliveries included
	Redelivered  int64    // of which decoded, then recognised as in hand or handled (a poll skips most by id before decoding, unreported: see tgtest.Counters.UpdatesRedelivered)
	Handled      int64    // distinct updates whose handler ended
	HandledTwice int64    // handler runs for an update already handled (must be 0)
	Errors       int64    // handler errors and panics
	PollErrors   int64    // failed getUpdates calls
	Leaked       int64    // goroutines that outlived their update (must be 0)
	ErrorNotes   []string // the first handler errors
	Latency      HistSnapshot
}

// Stats returns what r saw so far.
func (r *Recorder) Stats() BotStats {
	r.mu.Lock()
	notes := append([]string(nil), r.errs...)
	r.mu.Unlock()
	return BotStats{
		Received:     r.received.Load(),
		Redelivered:  r.redelivers.Load(),
		Handled:      r.handled.Load(),
		HandledTwice: r.twice.Load(),
		Errors:       r.errors.Load(),
		PollErrors:   r.pollErrors.Load(),
		Leaked:       r.leaked.Load(),
		ErrorNotes:   notes,
		Latency:      r.Latency.Snapshot(),
	}
}
