// Package fakeclock is a clock for the session tests: it moves only when
// told to, so TTLs expire without sleeping. Only tests import it.
package fakeclock

import (
	"sync/atomic"
	"time"
)

// Clock is a clock that moves only when told to; safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// New returns a clock at 2026-01-02 03:04:05 UTC.
func New() *Clock {
	c := &Clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
