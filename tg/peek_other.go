//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package tg

import (
	"net"
	"time"
)

// peerClosed cannot look at the socket on this platform: it reports false,
// and a request on a connection the server closed meanwhile relies on the
// other rules (see connTrace.unread).
func peerClosed(net.Conn) bool { return false }

// resetFollows cannot look at the socket on this platform: it reports
// false, leaving an end of stream after a written request unsure.
func resetFollows(net.Conn, time.Duration) bool { return false }
