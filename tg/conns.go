package tg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// errStaleConn fails the first write of a request on a reused keep-alive
// connection that the server has already closed (or that a retry must not
// use). Nothing of the request is written, so net/http's Transport, by its
// own rule for a request of which nothing was written, sends it again on
// another connection when it can rewind the body (every JSON call; a
// download has none); otherwise the Client does (see Client.do).
var errStaleConn = errors.New("tg: keep-alive connection closed by the server before the request was written")

// peekAfterIdle is how long a keep-alive connection must have sat idle
// before its socket is peeked at before reuse (see countedConn): a server
// closes connections idle for far longer (its idle timeout), and a
// connection handed from one call to the next under load is idle for
// microseconds, so a busy client makes no extra system call per request.
// A close the peek does not see is still caught after the fact (see
// connTrace.unread).
const peekAfterIdle = time.Millisecond

// connCounter counts the TCP connections a Client's own Transport holds
// open (dialled and not yet closed), for the open-connections metric, and
// the stale keep-alive connections met.
type connCounter struct {
	open   atomic.Int64
	dialed atomic.Int64
	stale  atomic.Int64 // reused connections refused before a request was written on them
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	closed *atomic.Bool // the Client's: once set, nothing is dialled
}

func (cc *connCounter) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if cc.closed != nil && cc.closed.Load() {
		return nil, ErrClosed
	}
	conn, err := cc.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc.open.Add(1)
	cc.dialed.Add(1)
	return &countedConn{Conn: conn, cc: cc, peek: newPeeker(conn)}, nil
}

// countedConn is a TCP connection of the Client's own Transport. It counts
// the bytes written on it, so that a failed call can tell whether any byte
// of its request left; and before the first write of a request on a reused
// connection it checks that the server has not closed it meanwhile.
type countedConn struct {
	net.Conn
	cc      *connCounter
	peek    *peeker
	once    sync.Once
	written atomic.Int64 // bytes written
	writes  atomic.Int64 // Write calls begun
	ended   atomic.Int64 // 1 + writes when a Read first failed (end of stream or error); 0 before
	heard   atomic.Int64 // writes when a Read last returned bytes
	reset   atomic.Bool  // a read or write met the peer's reset
	check   atomic.Bool  // the next write starts a request on a reused connection
	refuse  atomic.Bool  // ... of a retry that must go on a new connection
}

func (c *countedConn) Write(p []byte) (int, error) {
	if c.check.Load() && c.check.Swap(false) {
		if c.refuse.Swap(false) || c.peek.peerClosed() {
			c.cc.stale.Add(1)
			return 0, errStaleConn
		}
	}
	c.writes.Add(1)
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	if err != nil && isConnReset(err) {
		c.reset.Store(true)
	}
	return n, err
}

// Read notes when the connection's stream first ends or fails: compared
// with the writes begun by then, it tells whether the server had closed
// the connection before a request's first byte was even attempted.
//
// When the stream ends while a request written on the connection waits
// for its answer (nothing read since it was written), Read waits a moment
// (resetWait) for the reset that the server's TCP sends when the request
// arrived at a socket closed, or closed unread (RFC 1122 4.2.2.13), and
// returns that reset (errUnreadReset) instead of the end of the stream: the
// server closed the connection without reading the request. Without a
// reset the end of the stream is returned: the server may have read the
// request and died before answering.
func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	writes := c.writes.Load()
	if n > 0 {
		c.heard.Store(writes)
		return n, err
	}
	if err != nil && c.ended.Load() == 0 {
		c.ended.CompareAndSwap(0, writes+1)
	}
	if err == io.EOF && writes > c.heard.Load() && resetFollows(c.peek.raw, resetWait(c.peek.raw)) {
		err = errUnreadReset
	}
	if err != nil && isConnReset(err) {
		c.reset.Store(true)
	}
	return n, err
}

// resetWait bounds the wait for a reset after the end of the stream with a
// request unanswered: the reset answers the request's bytes, so it comes
// about one round trip after they were sent — plus however long a busy
// host's kernel defers its network processing, which on a loaded machine
// exceeded 20 ms (a call failed for want of the reset, 1 in ~50 runs of
// TestStaleKeepAliveLosesNothing with six at once on 2 cores). It is twice
// the kernel's smoothed round-trip time plus resetSlack, at most 1 s;
// 500 ms where the round-trip time cannot be read (platforms other than
// Linux). The wait ends as soon as the reset comes: only a server that
// read the request and closed without answering waits it out.
func resetWait(raw syscall.RawConn) time.Duration {
	rtt, ok := smoothedRTT(raw)
	if !ok {
		return 500 * time.Millisecond
	}
	return min(2*rtt+resetSlack, time.Second)
}

// resetSlack is resetWait's allowance for a busy host.
const resetSlack = 250 * time.Millisecond

func (c *countedConn) Close() error {
	c.once.Do(func() { c.cc.open.Add(-1) })
	return c.Conn.Close()
}

// ConnStats reports the TCP connections of the Client's own Transport:
// open now, and dialled in total. Both are 0 when the caller supplied the
// http.Client (WithHTTPClient).
func (c *Client) ConnStats() (open, dialed int64) {
	if c.conns == nil {
		return 0, 0
	}
	return c.conns.open.Load(), c.conns.dialed.Load()
}

// StaleConnStats counts how the Client got past keep-alive connections the
// server closed under it (see Client.Call).
type StaleConnStats struct {
	// Refused counts reused connections found closed by the server (end of
	// stream, reset, or unsolicited bytes waiting) just before a request
	// was written on them, and reused connections a retry would not take:
	// the request went on another connection. 0 with WithHTTPClient.
	Refused int64
	// Retried counts the times the Client sent a call again itself because
	// the failure proved the server never read the request.
	Retried int64
}

// StaleConns reports the counts of StaleConnStats since the Client was
// created.
func (c *Client) StaleConns() StaleConnStats {
	s := StaleConnStats{Retried: c.retried.Load()}
	if c.conns != nil {
		s.Refused = c.conns.stale.Load()
	}
	return s
}

// connTrace follows one call's request through the Transport: whether a
// connection was obtained, whether it was reused, how many bytes it had
// written when the request got it, and whether any byte of an answer came.
// The Transport may report after Do returned, hence the atomics; it calls
// GotConn again for each connection it tries.
//
// For a request whose context has no deadline it also keeps the Client's
// response header timeout (see WithResponseHeaderTimeout): a timer started
// when the request is written and stopped by the answer's first byte
// cancels the request. A request with a deadline pays for no timer.
type connTrace struct {
	gotConn   atomic.Bool
	reused    atomic.Bool
	firstByte atomic.Bool
	fresh     bool // a retry: refuse reused connections
	counted   bool // the Client's own Transport: its connections count what they read
	conn      atomic.Pointer[countedConn]
	before    atomic.Int64 // conn's written bytes when the request got it
	writes    atomic.Int64 // conn's Write calls begun when the request got it
	trace     httptrace.ClientTrace

	headerWait time.Duration           // response header timeout; 0: none
	cancel     context.CancelCauseFunc // of the request's context, with headerWait
	mu         sync.Mutex              // guards timer and stopped
	timer      *time.Timer             // running from the request's write to its first answer byte
	stopped    bool                    // the timer must not start (again)
	timedOut   atomic.Bool
}

// errHeaderTimeout is the cause of a request cancelled by the response
// header timeout.
var errHeaderTimeout = errors.New("tg: no answer within the response header timeout")

// context returns ctx carrying the trace, for the request's context, and
// a context of its own when the response header timeout applies: release
// ends it once the call is done with the answer.
func (t *connTrace) context(ctx context.Context) context.Context {
	t.trace.GotConn = t.got
	if _, ok := ctx.Deadline(); !ok && t.headerWait > 0 {
		ctx, t.cancel = context.WithCancelCause(ctx)
		t.trace.WroteRequest = t.wrote
	}
	if t.cancel != nil || !t.counted { // else the connection tells (see answered)
		t.trace.GotFirstResponseByte = t.gotFirstByte
	}
	return httptrace.WithClientTrace(ctx, &t.trace)
}

func (t *connTrace) gotFirstByte() {
	t.firstByte.Store(true)
	if t.cancel != nil {
		t.stopTimer()
	}
}

// wrote starts the response header timeout once the request is written.
func (t *connTrace) wrote(info httptrace.WroteRequestInfo) {
	if info.Err != nil || t.firstByte.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer == nil && !t.stopped {
		t.timer = time.AfterFunc(t.headerWait, func() {
			t.timedOut.Store(true)
			t.cancel(errHeaderTimeout)
		})
	}
}

func (t *connTrace) stopTimer() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
	t.stopped = true
}

// release ends the request's own context, if it has one, and its timer.
// The answer must have been read (or abandoned) by then.
func (t *connTrace) release() {
	if t.cancel != nil {
		t.stopTimer()
		t.cancel(nil)
	}
}

// headerTimeoutError returns err, marked as the response header timeout's
// when that timer cancelled the request.
func (t *connTrace) headerTimeoutError(err error) error {
	if t.timedOut.Load() && !errors.Is(err, errHeaderTimeout) {
		return fmt.Errorf("%w: %w", errHeaderTimeout, err)
	}
	return err
}

func (t *connTrace) got(info httptrace.GotConnInfo) {
	t.gotConn.Store(true)
	t.reused.Store(info.Reused)
	conn := info.Conn
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok { // TLS
		conn = tc.NetConn()
	}
	cc, _ := conn.(*countedConn)
	t.conn.Store(cc)
	if cc == nil {
		return
	}
	t.before.Store(cc.written.Load())
	t.writes.Store(cc.writes.Load())
	if info.Reused && (t.fresh || info.IdleTime >= peekAfterIdle) {
		cc.refuse.Store(t.fresh)
		cc.check.Store(true)
	}
}

// answered reports whether any byte of an answer came: reported by the
// Transport, or read by the Client's own connection since the request got
// it (HTTP/1.1 reads nothing of a request's answer before the request).
func (t *connTrace) answered() bool {
	if t.firstByte.Load() {
		return true
	}
	cc := t.conn.Load()
	return cc != nil && cc.heard.Load() > t.writes.Load()
}

// nothingWritten reports whether the request surely never left: the
// Client's own connection it was given wrote no byte for it.
func (t *connTrace) nothingWritten(err error) bool {
	if errors.Is(err, errStaleConn) {
		return true
	}
	cc := t.conn.Load()
	return cc != nil && cc.written.Load() == t.before.Load()
}

// closedFirst reports whether the server closed (or reset) the Client's
// own connection before the request's first write on it began: the stream
// had ended while the request was being handed the connection, so the
// request arrived, if at all, at a closed socket.
func (t *connTrace) closedFirst() bool {
	cc := t.conn.Load()
	return cc != nil && cc.ended.Load() == t.writes.Load()+1
}

// unread reports whether a failure proves that the server did not read the
// request, so that sending it again cannot perform it twice. With no byte
// of an answer received:
//
//   - no byte of the request was written (see nothingWritten), or
//   - the connection's stream had ended (or failed) before the request's
//     first write began (see closedFirst): the server closed it first, or
//   - the server reset a reused keep-alive connection (the error is the
//     reset, or the connection met one while the Transport reports another
//     failure, e.g. a write on the connection it closed because of it): a
//     TCP peer resets a connection when it closes it with received data
//     unread, or when data arrives after it closed (RFC 1122 4.2.2.13, "to
//     show that data was lost"). That is the server's idle timeout closing
//     the connection as the request arrived. (It assumes a server that
//     acts only on a request it has read to its end, as HTTP servers do.)
//
// A plain end of stream (FIN) that came after the request was written
// proves nothing (a server may read a request, act on it, and die before
// answering) and is not unread; neither is a failure after part of an
// answer, nor a reset of a new connection after the request was written.
func (t *connTrace) unread(err error) bool {
	if !t.gotConn.Load() || t.answered() {
		return false
	}
	if t.nothingWritten(err) || t.closedFirst() {
		return true
	}
	cc := t.conn.Load()
	return t.reused.Load() && (isConnReset(err) || cc != nil && cc.reset.Load())
}
