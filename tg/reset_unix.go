//go:build unix

package tg

import (
	"errors"
	"fmt"
	"syscall"
)

// isConnReset reports whether err is the peer resetting the connection.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// errUnreadReset is the error of a read that met the end of the stream and
// then a reset, with a request unanswered: the server closed the connection
// with the request unread. It wraps syscall.ECONNRESET.
var errUnreadReset = fmt.Errorf("%w after the end of the stream: the server closed the connection with the request unread", syscall.ECONNRESET)
