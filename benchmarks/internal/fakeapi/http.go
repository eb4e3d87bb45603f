package fakeapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"time"
)

// The HTTP/1.1 layer: just enough of RFC 9112 for the clients of Go's
// Telegram libraries (net/http and fasthttp): keep-alive, Content-Length
// and chunked bodies, Expect: 100-continue, Connection: close and
// HTTP/1.0. No pipelining beyond serving requests in order, no upgrades,
// no timeouts.

const (
	maxLine    = 4096 // a request line or header line longer than this is answered 431
	maxHeaders = 100
)

// httpError is a malformed request: answered with code and text, then the
// connection is closed.
type httpError struct {
	code int
	text string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.code, e.text) }

func malformed(text string) error {
	return &httpError{http.StatusBadRequest, "malformed HTTP request: " + text}
}

// head is what the fake keeps of a message's header fields.
type head struct {
	length  int64 // Content-Length, -1 when absent
	chunked bool  // Transfer-Encoding: chunked
	close   bool  // Connection: close
	cont    bool  // Expect: 100-continue
	ctype   []byte
}

// readHead reads header fields up to the empty line into h, whose ctype
// buffer it reuses.
func readHead(br *bufio.Reader, h *head) error {
	*h = head{length: -1, ctype: h.ctype[:0]}
	for n := 0; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return &httpError{http.StatusRequestHeaderFieldsTooLarge, "header line longer than " + strconv.Itoa(maxLine) + " bytes"}
		}
		if err != nil {
			return err
		}
		line = trimEOL(line)
		if len(line) == 0 {
			return nil
		}
		if n == maxHeaders {
			return &httpError{http.StatusRequestHeaderFieldsTooLarge, "more than " + strconv.Itoa(maxHeaders) + " header fields"}
		}
		colon := indexByte(line, ':')
		if colon <= 0 {
			return malformed("header line without a name and colon")
		}
		name, val := line[:colon], trimSpace(line[colon+1:])
		switch {
		case foldEq(name, "Content-Length"):
			v, ok := parseUint(val)
			if !ok || (h.length >= 0 && v != h.length) {
				return malformed("bad Content-Length")
			}
			h.length = v
		case foldEq(name, "Transfer-Encoding"):
			if !foldEq(val, "chunked") {
				return &httpError{http.StatusNotImplemented, "Transfer-Encoding other than chunked"}
			}
			h.chunked = true
		case foldEq(name, "Connection"):
			h.close = h.close || containsFold(val, "close")
		case foldEq(name, "Expect"):
			h.cont = foldEq(val, "100-continue")
		case foldEq(name, "Content-Type"):
			h.ctype = append(h.ctype[:0], val...)
		}
	}
}

// readChunked appends a chunked body to dst, at most limit bytes, and
// reads the trailer section after it.
func readChunked(br *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	r := io.LimitReader(httputil.NewChunkedReader(br), int64(limit)+1)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, errTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, malformed("bad chunked body: " + err.Error())
		}
	}
	for { // trailer fields, up to the empty line
		line, err := br.ReadSlice('\n')
		if err != nil {
			return dst, malformed("bad chunked trailer")
		}
		if len(trimEOL(line)) == 0 {
			return dst, nil
		}
	}
}

var errTooLarge = &httpError{http.StatusRequestEntityTooLarge, "request body too large"}

// bodyKind is how a request's body holds its parameters.
type bodyKind uint8

const (
	bodyNone bodyKind = iota
	bodyJSON
	bodyForm
	bodyMultipart
)

// request is the part of an HTTP request the methods look at. Its slices
// belong to the connection and are valid until the next request.
type request struct {
	query    []byte
	kind     bodyKind
	body     []byte
	boundary []byte
}

// conn is one accepted connection, served by one goroutine that reads a
// request, answers it and reads the next.
type conn struct {
	s       *Server
	nc      net.Conn
	cr      connReader
	br      *bufio.Reader
	h       head
	line    []byte // the request line, copied out of br
	body    []byte
	out     []byte    // the answer's head (and small bodies)
	bufs    [4][]byte // backing of the net.Buffers of a getUpdates answer
	closing bool      // the answer ends the connection
	req     request
	poll    *poller
	watch   chan error // result of the read started while a poll waits
}

// connReader reads the connection, first the byte a poll's watch read
// while the poll waited.
type connReader struct {
	nc    net.Conn
	peek  [1]byte
	npeek int
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.npeek > 0 && len(p) > 0 {
		p[0], r.npeek = r.peek[0], 0
		return 1, nil
	}
	return r.nc.Read(p)
}

// serveConn serves nc until the client closes it, a request is malformed
// or asks to close, or the server closes.
func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	defer s.dropConn(nc)
	c := &conn{s: s, nc: nc}
	c.cr.nc = nc
	c.br = bufio.NewReaderSize(&c.cr, maxLine)
	for c.serveOne() {
	}
}

// serveOne reads and answers one request and reports whether the
// connection stays open.
func (c *conn) serveOne() bool {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.fail(&httpError{http.StatusRequestURITooLong, "request line longer than " + strconv.Itoa(maxLine) + " bytes"})
		return false
	}
	if err != nil {
		return false // the client went away
	}
	c.line = append(c.line[:0], trimEOL(line)...)
	method, rest, ok1 := cutByte(c.line, ' ')
	target, proto, ok2 := cutByte(rest, ' ')
	if !ok1 || !ok2 || len(proto) != 8 || string(proto[:7]) != "HTTP/1." || len(target) == 0 || target[0] != '/' {
		c.fail(malformed("bad request line"))
		return false
	}
	if err := readHead(c.br, &c.h); err != nil {
		c.fail(err)
		return false
	}
	c.closing = c.h.close || proto[7] == '0'
	if err := c.readBody(); err != nil {
		c.fail(err)
		return false
	}
	if string(method) != http.MethodGet && string(method) != http.MethodPost {
		c.apiError(http.StatusMethodNotAllowed, "Method Not Allowed: use GET or POST")
		return !c.closing
	}
	path, query, _ := cutByte(target, '?')
	if len(path) <= len(c.s.prefix) || string(path[:len(c.s.prefix)]) != c.s.prefix {
		if len(path) >= 4 && string(path[:4]) == "/bot" {
			c.apiError(http.StatusUnauthorized, "Unauthorized")
		} else {
			c.apiError(http.StatusNotFound, "Not Found")
		}
		return !c.closing
	}
	c.req = request{query: query, kind: bodyNone, body: c.body}
	if len(c.body) > 0 {
		c.req.kind, c.req.boundary = classify(c.h.ctype)
	}
	c.s.call(c, path[len(c.s.prefix):])
	return !c.closing
}

// readBody reads the request's body into c.body (capped at MaxBody).
func (c *conn) readBody() error {
	c.body = c.body[:0]
	h := &c.h
	switch {
	case h.chunked && h.length >= 0:
		return malformed("both Content-Length and chunked")
	case h.length > int64(c.s.cfg.MaxBody):
		return errTooLarge
	case h.length <= 0 && !h.chunked:
		return nil
	}
	if h.cont {
		if _, err := io.WriteString(c.nc, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return err
		}
	}
	if h.chunked {
		var err error
		c.body, err = readChunked(c.br, c.body, c.s.cfg.MaxBody)
		return err
	}
	n := int(h.length)
	if cap(c.body) < n {
		c.body = make([]byte, n, max(n, 2*cap(c.body)))
	}
	c.body = c.body[:n]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		return malformed("body shorter than Content-Length")
	}
	return nil
}

// classify tells the body kind from a Content-Type and returns the
// multipart boundary.
func classify(ctype []byte) (bodyKind, []byte) {
	mt, params, _ := cutByte(ctype, ';')
	mt = trimSpace(mt)
	switch {
	case foldEq(mt, "application/json"):
		return bodyJSON, nil
	case foldEq(mt, "application/x-www-form-urlencoded"):
		return bodyForm, nil
	case foldEq(mt, "multipart/form-data"):
		i := indexFold(params, "boundary=")
		if i < 0 {
			return bodyNone, nil
		}
		b := params[i+len("boundary="):]
		if len(b) > 0 && b[0] == '"' {
			b, _, _ = cutByte(b[1:], '"')
		} else {
			b, _, _ = cutByte(b, ';')
			b = trimSpace(b)
		}
		return bodyMultipart, b
	}
	return bodyNone, nil
}

// writeHead appends a response head for a JSON body of n bytes to c.out.
func (c *conn) writeHead(code int, n int) {
	b := append(c.out[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	if c.closing {
		b = append(b, "\r\nConnection: close"...)
	}
	c.out = append(b, "\r\n\r\n"...)
}

// writeJSON answers with body in one write.
func (c *conn) writeJSON(code int, body []byte) {
	c.writeHead(code, len(body))
	c.out = append(c.out, body...)
	if _, err := c.nc.Write(c.out); err != nil {
		c.closing = true
	}
}

// writeParts answers with the concatenation of parts in one writev
// (getUpdates: prefix, the updates as encoded in New, suffix).
func (c *conn) writeParts(code int, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	c.writeHead(code, n)
	bufs := append(c.bufs[:0:len(c.bufs)], c.out)
	bufs = append(bufs, parts...)
	nb := net.Buffers(bufs)
	if _, err := nb.WriteTo(c.nc); err != nil {
		c.closing = true
	}
}

// apiError answers with a Bot API error ({"ok":false,…}).
func (c *conn) apiError(code int, desc string) {
	switch code {
	case http.StatusConflict:
		c.s.n.conflicts.Add(1)
	default:
		c.s.n.badRequests.Add(1)
	}
	b, _ := json.Marshal(struct {
		OK          bool   `json:"ok"`
		Code        int    `json:"error_code"`
		Description string `json:"description"`
	}{false, code, desc})
	c.writeJSON(code, b)
}

// fail answers a malformed request and marks the connection for closing.
func (c *conn) fail(err error) {
	var he *httpError
	if !errors.As(err, &he) {
		return // an I/O error: the client is gone
	}
	c.closing = true
	c.apiError(he.code, he.text)
}

// startWatch starts a read of one byte on the connection, which returns
// when the client closes it (or sends something) while its poll waits,
// and returns the channel its result comes on; nil when bytes of a next
// request are already buffered.
func (c *conn) startWatch() <-chan error {
	if c.br.Buffered() > 0 || c.cr.npeek > 0 {
		return nil
	}
	if c.watch == nil {
		c.watch = make(chan error, 1)
	}
	go func() { // joined by stopWatch or by the caller's receive
		n, err := c.nc.Read(c.cr.peek[:])
		if n == 1 {
			c.cr.npeek = 1
			err = nil
		}
		c.watch <- err
	}()
	return c.watch
}

// stopWatch ends the read started by startWatch and returns its error, nil
// when the client is still there.
func (c *conn) stopWatch() error {
	c.nc.SetReadDeadline(time.Unix(1, 0))
	err := <-c.watch
	c.nc.SetReadDeadline(time.Time{})
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil
	}
	return err
}
