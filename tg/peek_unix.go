//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package tg

import (
	"net"
	"syscall"
	"time"
)

// peek looks at conn's socket without reading from it or waiting: it
// returns whether a read would find the end of the stream, whether it
// could look at all, and the error a read would meet (nil when a byte or
// the end of the stream waits). A pending error (ECONNRESET) is consumed.
func peek(conn net.Conn) (eof, ok bool, err error) {
	sc, isSC := conn.(syscall.Conn)
	if !isSC {
		return false, false, nil
	}
	raw, rerr := sc.SyscallConn()
	if rerr != nil {
		return false, false, nil
	}
	cerr := raw.Control(func(fd uintptr) {
		var b [1]byte
		for {
			var n int
			n, _, err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			eof = err == nil && n == 0
			return
		}
	})
	return eof, cerr == nil, err
}

// peerClosed reports whether the server has closed conn, or written to it
// unasked, while it sat idle in the pool: a peek at its socket finds the
// end of the stream, a pending error (a reset) or bytes nobody asked for
// (an idle connection receives none; a server may send a 408 before
// closing one). It reports false when it cannot tell.
func peerClosed(conn net.Conn) bool {
	_, ok, err := peek(conn)
	return ok && err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}

// resetFollows reports whether a reset arrives on conn, whose stream has
// ended, within wait: the peer's TCP answering data that reached it after
// it closed. Once the stream has ended a read no longer reports a reset, so
// it looks at the socket's pending error (SO_ERROR: EPIPE for a reset after
// the end of the stream, ECONNRESET otherwise) every millisecond; it gives
// up early when conn is closed meanwhile.
func resetFollows(conn net.Conn, wait time.Duration) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
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
