//go:build !linux || 386

package tg

import (
	"syscall"
	"time"
)

// smoothedRTT cannot read the round-trip time on this platform.
func smoothedRTT(syscall.RawConn) (time.Duration, bool) { return 0, false }
