//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package tg

import (
	"net"
	"syscall"
	"time"
)

// peeker looks at one connection's socket without reading from it or
// waiting. It is made once per connection, so that a look allocates
// nothing; its looks must not overlap (countedConn makes one per request,
// before the request's first write).
type peeker struct {
	raw  syscall.RawConn // nil: the connection has no socket to look at; also for resetFollows and smoothedRTT
	look func(fd uintptr)
	err  error // of the last look
}

func newPeeker(conn net.Conn) *peeker {
	p := &peeker{}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			p.raw = raw
		}
	}
	p.look = func(fd uintptr) {
		var b [1]byte
		for {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			p.err = err
			return
		}
	}
	return p
}

// peerClosed reports whether the server has closed the connection, or
// written to it unasked, while it sat idle in the pool: a peek at its
// socket finds the end of the stream, a byte, or a pending error (consumed:
// ECONNRESET) rather than nothing to read yet.
func (p *peeker) peerClosed() bool {
	if p.raw == nil || p.raw.Control(p.look) != nil {
		return false
	}
	return p.err != syscall.EAGAIN && p.err != syscall.EWOULDBLOCK
}

// resetFollows reports whether a reset arrives on raw's connection, whose
// stream has ended, within wait: the peer's TCP answering data that reached
// it after it closed. Once the stream has ended a read no longer reports a
// reset, so it looks at the socket's pending error (SO_ERROR: EPIPE for a
// reset after the end of the stream, ECONNRESET otherwise) every
// millisecond; it gives up early when the connection is closed meanwhile.
// A nil raw (no socket to look at) reports false.
func resetFollows(raw syscall.RawConn, wait time.Duration) bool {
	if raw == nil {
		return false
	}
	deadline := time.Now().Add(wait)
	for {
		var soErr int
		cerr := raw.Control(func(fd uintptr) {
			soErr, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
		})
		switch e := syscall.Errno(soErr); {
		case cerr != nil:
			return false
		case e == syscall.ECONNRESET || e == syscall.EPIPE:
			return true
		case time.Now().After(deadline):
			return false
		}
		time.Sleep(time.Millisecond)
	}
}
