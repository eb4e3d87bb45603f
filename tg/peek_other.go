//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package tg

import (
	"net"
	"syscall"
	"time"
)

// peeker cannot look at the socket on this platform: peerClosed reports
// false, and a request on a connection the server closed meanwhile relies
// on the other rules (see connTrace.unread).
type peeker struct{ raw syscall.RawConn } // raw: always nil here

func newPeeker(net.Conn) *peeker { return &peeker{} }

func (*peeker) peerClosed() bool { return false }

// resetFollows cannot look at the socket on this platform: it reports
// false, leaving an end of stream after a written request unsure.
func resetFollows(syscall.RawConn, time.Duration) bool { return false }
