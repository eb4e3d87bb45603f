//go:build !linux || 386

package tg

import (
	"net"
	"time"
)

// smoothedRTT cannot read the round-trip time on this platform.
func smoothedRTT(net.Conn) (time.Duration, bool) { return 0, false }
