//go:build !unix

package tg

import "errors"

// isConnReset reports whether err is the peer resetting the connection; on
// this platform only errUnreadReset is recognised, so a reset leaves the
// outcome unsure.
func isConnReset(err error) bool { return errors.Is(err, errUnreadReset) }

// errUnreadReset is the error of a read that met the end of the stream and
// then a reset (not detected on this platform).
var errUnreadReset = errors.New("connection reset after the end of the stream: the server closed the connection with the request unread")
