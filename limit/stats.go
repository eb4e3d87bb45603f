package limit

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a Control's counters, for metrics. Every field
// only grows.
type Stats struct {
	Calls        uint64        // attempts passed on to the next Invoker, retries included
	Waits        uint64        // waits over 1ms, for a chat's queue or for a turn
	WaitTime     time.Duration // total time spent waiting for queues and turns
	Floods       uint64        // 429 answers seen
	GlobalPauses uint64        // 429s taken as a flood of the whole bot
	Retries      uint64        // attempts after the first (migrations excluded)
	Migrations   uint64        // calls re-sent to a supergroup
}

type counters struct {
	calls, waits, waitNanos, floods, globalPauses, retries, migrations atomic.Uint64
}

// waitThreshold: shorter waits are not counted as waits (still summed).
const waitThreshold = time.Millisecond

func (s *counters) waited(d time.Duration) {
	if d <= 0 {
		return
	}
	s.waitNanos.Add(uint64(d))
	if d >= waitThreshold {
		s.waits.Add(1)
	}
}

// Stats returns the Control's counters.
func (c *Control) Stats() Stats {
	s := &c.stats
	return Stats{
		Calls:        s.calls.Load(),
		Waits:        s.waits.Load(),
		WaitTime:     time.Duration(s.waitNanos.Load()),
		Floods:       s.floods.Load(),
		GlobalPauses: s.globalPauses.Load(),
		Retries:      s.retries.Load(),
		Migrations:   s.migrations.Load(),
	}
}

// Queued returns the number of chats with a counted call in flight or
// queued: a gauge for metrics.
func (c *Control) Queued() int { return c.lanes.len() }
