package tgtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

// apiError is an error answered the way Telegram does:
// {"ok":false,"error_code":…,"description":…,"parameters":{…}}.
type apiError struct {
	Code       int
	Desc       string
	RetryAfter int
}

func (e *apiError) Error() string { return strconv.Itoa(e.Code) + " " + e.Desc }

func badRequest(desc string) *apiError { return &apiError{Code: 400, Desc: "Bad Request: " + desc} }

var (
	errUnauthorized    = &apiError{Code: 401, Desc: "Unauthorized"}
	errNotFound        = &apiError{Code: 404, Desc: "Not Found"}
	errChatNotFound    = badRequest("chat not found")
	errChatIDEmpty     = badRequest("chat_id is empty")
	errTextEmpty       = badRequest("message text is empty")
	errTextTooLong     = badRequest("message is too long")
	errEditNotFound    = badRequest("message to edit not found")
	errDeleteNotFound  = badRequest("message to delete not found")
	errReplyNotFound   = badRequest("message to be replied not found")
	errForwardNotFound = badRequest("message to forward not found")
	errCopyNotFound    = badRequest("message to copy not found")
	errNotModified     = badRequest("message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
	errCantEdit        = badRequest("message can't be edited")
	errBadChatID       = badRequest("invalid chat_id")
	errBadInteger      = badRequest("invalid integer parameter")
	errBadFileID       = badRequest("wrong file identifier/HTTP URL specified")
	errInvalidFileID   = badRequest("invalid file_id")
	errFileTooBig      = badRequest("file is too big")
	errTooLarge        = &apiError{Code: 413, Desc: "Request Entity Too Large"}
	errQueryInvalid    = badRequest("query is too old and response timeout expired or query ID is invalid")
	errWebhookActive   = &apiError{Code: 409, Desc: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"}
	errOtherPoller     = &apiError{Code: 409, Desc: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}
	errBlocked         = &apiError{Code: 403, Desc: "Forbidden: bot was blocked by the user"}
	errNotMember       = &apiError{Code: 403, Desc: "Forbidden: bot is not a member of the group chat"}
	errClosing         = &apiError{Code: 500, Desc: "Internal Server Error: emulator is closing"}
)

func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return badRequest(err.Error())
}

// rawJSON is a result that is already encoded.
type rawJSON []byte

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { b := bufPool.Get().(*bytes.Buffer); b.Reset(); return b }

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		bufPool.Put(b)
	}
}

func encodeResult(buf *bytes.Buffer, res any) error {
	buf.WriteString(`{"ok":true,"result":`)
	switch v := res.(type) {
	case rawJSON:
		buf.Write(v)
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	default:
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	buf.WriteByte('}')
	return nil
}

func encodeError(buf *bytes.Buffer, e *apiError) {
	buf.WriteString(`{"ok":false,"error_code":`)
	buf.WriteString(strconv.Itoa(e.Code))
	buf.WriteString(`,"description":`)
	d, _ := json.Marshal(e.Desc)
	buf.Write(d)
	if e.RetryAfter > 0 {
		buf.WriteString(`,"parameters":{"retry_after":`)
		buf.WriteString(strconv.Itoa(e.RetryAfter))
		buf.WriteByte('}')
	}
	buf.WriteByte('}')
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	buf := getBuf()
	encodeError(buf, e)
	writeJSON(w, e.Code, buf.Bytes())
	putBuf(buf)
}

// quietLog discards net/http's own log lines (client disconnects are part
// of fault injection, not noise worth printing).
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// countingListener counts bytes read and written on every accepted conn.
type countingListener struct {
	net.Listener
	c *counters
}

func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: l.c}, nil
}

// countingConn counts the bytes of one accepted connection, and the server
// closing it for idleness: net/http's server waits for the next request
// with the idle timeout as read deadline, and closes the connection when
// that read fails.
type countingConn struct {
	net.Conn
	c     *counters
	state atomic.Int32 // http.ConnState, set by Server.connState
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.c.bytesIn.Add(int64(n))
	if err != nil && http.ConnState(c.state.Load()) == http.StateIdle && errors.Is(err, os.ErrDeadlineExceeded) {
		c.c.idleClosed.Add(1)
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.c.bytesOut.Add(int64(n))
	return n, err
}
