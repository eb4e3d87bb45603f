package tg

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// ErrTooLarge is wrapped by the error of a response or download whose body
// exceeds the Client's cap (WithMaxResponseBytes, WithMaxDownloadBytes).
var ErrTooLarge = errors.New("tg: body exceeds the size cap")

// ErrClosed is wrapped by the error of every call and download made after
// Client.Close: a closed Client sends nothing and opens no connection.
var ErrClosed = errors.New("tg: client closed")

// APIError is a Bot API answer with ok=false. Telegram documents ErrorCode as
// subject to change; match on it and on Description.
type APIError struct {
	Method      string // the method called, e.g. "sendMessage"; "download" for Download
	ErrorCode   int    // error_code, or the HTTP status when the answer has none
	Description string // description, e.g. "Bad Request: chat not found"

	// RetryAfter is parameters.retry_after (429 Too Many Requests): how long
	// to wait before the request can be repeated. 0 when absent.
	RetryAfter time.Duration
	// MigrateToChatID is parameters.migrate_to_chat_id: the group was
	// upgraded to the supergroup with this id. 0 when absent.
	MigrateToChatID int64
}

func (e *APIError) Error() string {
	s := "tg: " + e.Method + ": " + strconv.Itoa(e.ErrorCode) + " " + e.Description
	if e.RetryAfter > 0 {
		s += " (retry after " + e.RetryAfter.String() + ")"
	}
	if e.MigrateToChatID != 0 {
		s += " (migrated to chat " + strconv.FormatInt(e.MigrateToChatID, 10) + ")"
	}
	return s
}

// NetworkError reports a call that received no answer: the connection could
// not be made, broke, timed out, or the call's context ended. Err is the cause
// (token redacted); errors.Is(err, context.Canceled) and
// errors.Is(err, context.DeadlineExceeded) see through it.
type NetworkError struct {
	Method string // the method called; "download" for Download
	Err    error

	notSent bool
}

func (e *NetworkError) Error() string { return "tg: " + e.Method + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *NetworkError) Unwrap() error { return e.Err }

// NotSent reports whether the server surely did not read the request, so
// that the call can be repeated without the risk of doing it twice:
//
//   - no connection was obtained for it (dialling, name resolution or the
//     TLS handshake failed);
//   - no byte of it was written on the connection (Client's own Transport
//     only);
//   - the server had closed the connection before the request's first write
//     began (own Transport only);
//   - the server reset a reused keep-alive connection before any byte of an
//     answer, directly or right after closing it (a TCP reset means data
//     arrived at a closed socket or was left unread, RFC 1122 4.2.2.13; it
//     assumes a server that acts only on a request it has read to its end,
//     as HTTP servers do).
//
// Calls failing so have already been sent again once by the Client where
// that was possible (see Client.Call); NotSent tells a retry middleware
// (package limit) that it may repeat them too. False means the request may
// have been received and acted on: the connection ended after the request
// was written with no reset following (a server may read a request, act on
// it and die before answering), broke during the answer, or timed out.
func (e *NetworkError) NotSent() bool { return e.notSent }

// ResponseError reports an HTTP response that is not a valid Bot API answer:
// not JSON (an HTML page from a proxy), not an envelope, ok=true with an HTTP
// error status, a result that does not decode into the result value, or a
// body over the size cap (errors.Is(err, ErrTooLarge)).
type ResponseError struct {
	Method     string // the method called; "download" for Download
	StatusCode int    // the HTTP status
	Err        error  // what is wrong
	Body       string // at most the first 64 bytes of the body, token redacted
}

func (e *ResponseError) Error() string {
	s := fmt.Sprintf("tg: %s: invalid response (HTTP %d): %v", e.Method, e.StatusCode, e.Err)
	if e.Body != "" {
		s += fmt.Sprintf("; body starts %q", e.Body)
	}
	return s
}

// Unwrap returns the cause.
func (e *ResponseError) Unwrap() error { return e.Err }

// connectFailed reports whether err is one that ends a request before it is
// written: a dial, DNS or TLS-handshake failure, or a timeout while
// connecting. Used together with "no connection was obtained".
func connectFailed(err error) bool {
	var (
		op   *net.OpError
		dns  *net.DNSError
		rec  tls.RecordHeaderError
		alrt tls.AlertError
		cve  *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		he   x509.HostnameError
		ci   x509.CertificateInvalidError
		ne   net.Error
	)
	switch {
	case errors.As(err, &op) && op.Op == "dial",
		errors.As(err, &dns),
		errors.As(err, &rec), errors.As(err, &alrt), errors.As(err, &cve),
		errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true // e.g. "net/http: TLS handshake timeout"
	}
	return false
}
