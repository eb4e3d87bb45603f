//go:build linux

package fakeapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"syscall"
	"time"
)

// conn is one accepted connection. Its methods run on the loop with
// Server.mu held.
type conn struct {
	l  *loop
	s  *Server
	fd int

	in       []byte // received and not yet consumed
	headLen  int    // > 0: the current request's head is parsed, its body starts here
	h        head
	method   []byte
	target   []byte
	http10   bool
	sentCont bool   // 100 Continue written for the current request
	chunked  []byte // the current request's body, de-chunked

	out     [][]byte // answer bytes not yet written
	outBuf  []byte   // the answer's head (and small bodies)
	outOn   bool     // registered for EPOLLOUT
	closing bool     // close once out is written
	closed  bool
	req     request

	// A getUpdates that waits (Server.poller is this connection).
	parked       bool
	pollLimit    int
	pollDeadline time.Time
}

// maxIn caps the bytes a connection buffers: a head and a body, chunked
// with some overhead.
func (c *conn) maxIn() int { return maxHead + 2*c.s.cfg.MaxBody + maxChunk }

func (c *conn) onEvent(ev uint32) {
	if ev&syscall.EPOLLOUT != 0 {
		c.flush()
	}
	if !c.closed && ev&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		c.read()
	}
	if !c.closed {
		c.process()
	}
}

// read appends what the socket holds to c.in; it closes the connection
// at its end or on an error.
func (c *conn) read() {
	if len(c.in) == cap(c.in) {
		if cap(c.in) >= c.maxIn() {
			if c.parked { // megabytes pipelined behind a waiting poll: no answer can come
				c.close()
				return
			}
			c.fail(errTooLarge)
			return
		}
		c.in = append(c.in[:cap(c.in)], make([]byte, min(cap(c.in), c.maxIn()-cap(c.in)))...)[:len(c.in)]
	}
	for {
		n, err := syscall.Read(c.fd, c.in[len(c.in):cap(c.in)])
		switch {
		case n > 0:
			c.in = c.in[:len(c.in)+n]
			return
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return
		}
		c.close() // end of stream or an error: the client is gone
		return
	}
}

// process serves the requests buffered in c.in, in order, while no answer
// is pending and no getUpdates waits.
func (c *conn) process() {
	for !c.closed && !c.closing && !c.parked && len(c.out) == 0 && c.serveOne() {
	}
}

// serveOne parses and answers the next request if c.in holds all of it.
func (c *conn) serveOne() bool {
	if c.headLen == 0 {
		i := bytes.Index(c.in, headEnd)
		if i < 0 || i > maxHead {
			if i > maxHead || len(c.in) > maxHead {
				c.fail(&httpError{code: http.StatusRequestHeaderFieldsTooLarge, text: "request head longer than 16 KiB"})
			}
			return false
		}
		line, fields, _ := bytes.Cut(c.in[:i+2], crlf)
		method, rest, ok1 := cutByte(line, ' ')
		target, proto, ok2 := cutByte(rest, ' ')
		if !ok1 || !ok2 || len(proto) != 8 || string(proto[:7]) != "HTTP/1." || len(target) == 0 || target[0] != '/' {
			c.fail(malformed("bad request line"))
			return false
		}
		if err := parseHead(trimEOL(fields), &c.h); err != nil {
			c.fail(err)
			return false
		}
		if c.h.length > int64(c.s.cfg.MaxBody) {
			c.fail(errTooLarge)
			return false
		}
		c.headLen, c.method, c.target, c.http10 = i+4, method, target, proto[7] == '0'
	}
	var body []byte
	total := c.headLen
	switch {
	case c.h.chunked:
		out, n, done, err := dechunk(c.in[c.headLen:], c.chunked[:0], c.s.cfg.MaxBody)
		c.chunked = out
		if err != nil {
			c.fail(err)
			return false
		}
		if !done {
			c.sendContinue()
			return false
		}
		body, total = out, c.headLen+n
	case c.h.length > 0:
		total += int(c.h.length)
		if len(c.in) < total {
			c.sendContinue()
			return false
		}
		body = c.in[c.headLen:total]
	}
	c.closing = c.h.close || c.http10
	c.serve(body)
	// The answer refers to nothing in c.in: drop the request.
	c.in = c.in[:copy(c.in, c.in[total:])]
	c.headLen, c.sentCont, c.method, c.target = 0, false, nil, nil
	return !c.closed
}

// sendContinue answers Expect: 100-continue once, before the body is read.
func (c *conn) sendContinue() {
	if c.h.cont && !c.sentCont && len(c.out) == 0 {
		c.sentCont = true
		c.send(continueLine)
	}
}

// serve answers the parsed request.
func (c *conn) serve(body []byte) {
	if string(c.method) != http.MethodGet && string(c.method) != http.MethodPost {
		c.apiError(http.StatusMethodNotAllowed, "Method Not Allowed: use GET or POST")
		return
	}
	path, query, _ := cutByte(c.target, '?')
	p := c.s.prefix
	if len(path) <= len(p) || string(path[:len(p)]) != p {
		if len(path) >= 4 && string(path[:4]) == "/bot" {
			c.apiError(http.StatusUnauthorized, "Unauthorized")
		} else {
			c.apiError(http.StatusNotFound, "Not Found")
		}
		return
	}
	c.req = request{query: query, body: body}
	if len(body) > 0 {
		c.req.kind, c.req.boundary = classify(c.h.ctype)
	}
	c.s.call(c, path[len(p):])
	c.req = request{}
}

// writeJSON answers with body.
func (c *conn) writeJSON(code int, body []byte) {
	c.outBuf = appendHead(c.outBuf[:0], code, len(body), c.closing)
	c.outBuf = append(c.outBuf, body...)
	c.send(c.outBuf)
}

// writeParts answers with the concatenation of parts, written with one
// writev (getUpdates: prefix, the updates as encoded in New, suffix).
// The parts must stay unchanged until written.
func (c *conn) writeParts(code int, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	c.outBuf = appendHead(c.outBuf[:0], code, n, c.closing)
	c.out = append(append(c.out[:0], c.outBuf), parts...)
	c.flush()
}

func (c *conn) send(b []byte) {
	c.out = append(c.out[:0], b)
	c.flush()
}

// flush writes what it can of c.out and waits for EPOLLOUT for the rest;
// a closing connection is closed once everything is written.
func (c *conn) flush() {
	for len(c.out) > 0 {
		n, err := c.l.writev(c.fd, c.out)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if !c.outOn {
				c.outOn = true
				c.l.watch(c.fd, evIn|evOut)
			}
			return
		case err != nil:
			c.close()
			return
		}
		c.out = consume(c.out, n)
	}
	if c.outOn {
		c.outOn = false
		c.l.watch(c.fd, evIn)
	}
	if c.closing {
		c.close()
	}
}

// apiError answers with a Bot API error ({"ok":false,…}).
func (c *conn) apiError(code int, desc string) {
	if code == http.StatusConflict {
		c.s.n.conflicts.Add(1)
	} else {
		c.s.n.badRequests.Add(1)
	}
	b, _ := json.Marshal(struct {
		OK          bool   `json:"ok"`
		Code        int    `json:"error_code"`
		Description string `json:"description"`
	}{false, code, desc})
	c.writeJSON(code, b)
}

// fail answers a refused request and, unless it may continue, closes the
// connection after the answer.
func (c *conn) fail(err error) {
	he, ok := err.(*httpError)
	if !ok {
		c.close()
		return
	}
	c.closing = c.closing || !he.keep
	c.apiError(he.code, he.text)
}

// close closes the connection; a getUpdates waiting on it ends.
func (c *conn) close() {
	if c.closed {
		return
	}
	c.closed = true
	c.l.drop(c.fd)
	if c.s.poller == c {
		c.unpark()
	}
}

// park makes the connection's getUpdates wait. Server.mu held.
func (c *conn) park(limit int, timeout time.Duration) {
	c.parked, c.pollLimit, c.pollDeadline = true, limit, time.Now().Add(timeout)
	c.s.poller = c
	c.s.n.pollWaiting.Store(true)
	c.s.notifyLocked()
}

// unpark ends the wait without answering.
func (c *conn) unpark() {
	c.parked = false
	if c.s.poller == c {
		c.s.poller = nil
		c.s.n.pollWaiting.Store(false)
		c.s.notifyLocked()
	}
}

// answerPoll answers the waiting getUpdates with updates [first, end), or
// 409 when a webhook was set meanwhile, then serves what the client sent
// after it.
func (c *conn) answerPoll(first, end int) {
	c.unpark()
	if c.s.hook != nil {
		c.apiError(http.StatusConflict, descWebhookActive)
	} else {
		c.s.answerUpdates(c, first, end)
	}
	c.process()
}
