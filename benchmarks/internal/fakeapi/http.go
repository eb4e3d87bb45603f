package fakeapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
)

// The HTTP/1.1 layer parses what it needs of RFC 9112 from a connection's
// buffer: request and status lines, header fields, Content-Length and
// chunked bodies, Expect: 100-continue, Connection: close and HTTP/1.0.
// Requests are served in order (a pipelined one waits for the answer
// before it); there are no upgrades and no timeouts.

const (
	maxHead    = 16 << 10 // a request or answer head (line and fields) longer than this is refused
	maxHeaders = 100
	maxChunk   = 4096 // a chunk-size line longer than this is malformed
)

// httpError is a request refused: answered with code and text; the
// connection is closed unless keep is set.
type httpError struct {
	code int
	text string
	keep bool
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.code, e.text) }

func malformed(text string) *httpError {
	return &httpError{code: http.StatusBadRequest, text: "malformed HTTP request: " + text}
}

var errTooLarge = &httpError{code: http.StatusRequestEntityTooLarge, text: "request body too large"}

// head is what the fake keeps of a message's header fields.
type head struct {
	length  int64 // Content-Length, -1 when absent
	chunked bool  // Transfer-Encoding: chunked
	close   bool  // Connection: close
	cont    bool  // Expect: 100-continue
	ctype   []byte
}

// parseHead parses the header fields in block (CRLF-separated lines,
// without the empty line) into h.
func parseHead(block []byte, h *head) error {
	*h = head{length: -1}
	for n := 0; len(block) > 0; n++ {
		line, rest, _ := bytes.Cut(block, crlf)
		block = rest
		if n == maxHeaders {
			return &httpError{code: http.StatusRequestHeaderFieldsTooLarge, text: "more than " + strconv.Itoa(maxHeaders) + " header fields"}
		}
		colon := bytes.IndexByte(line, ':')
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
				return &httpError{code: http.StatusNotImplemented, text: "Transfer-Encoding other than chunked"}
			}
			h.chunked = true
		case foldEq(name, "Connection"):
			h.close = h.close || containsFold(val, "close")
		case foldEq(name, "Expect"):
			h.cont = foldEq(val, "100-continue")
		case foldEq(name, "Content-Type"):
			h.ctype = val
		}
	}
	if h.chunked && h.length >= 0 {
		return malformed("both Content-Length and chunked")
	}
	return nil
}

var (
	crlf         = []byte("\r\n")
	headEnd      = []byte("\r\n\r\n")
	continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")
)

// dechunk decodes the chunked body at the start of b, appending it to
// dst. It returns the bytes of b consumed (through the trailer section)
// and done false when b does not hold all of it yet.
func dechunk(b, dst []byte, limit int) (out []byte, n int, done bool, err error) {
	out = dst
	for {
		i := bytes.Index(b[n:], crlf)
		if i < 0 {
			if len(b)-n > maxChunk {
				return out, 0, false, malformed("chunk-size line too long")
			}
			return out, 0, false, nil
		}
		line := b[n : n+i]
		if semi := bytes.IndexByte(line, ';'); semi >= 0 {
			line = line[:semi]
		}
		size, ok := parseHex(trimSpace(line))
		if !ok {
			return out, 0, false, malformed("bad chunk size")
		}
		start := n + i + 2
		if size == 0 { // trailer fields up to an empty line
			for k := start; ; {
				j := bytes.Index(b[k:], crlf)
				if j < 0 {
					return out, 0, false, nil
				}
				if j == 0 {
					return out, k + 2, true, nil
				}
				k += j + 2
			}
		}
		if len(out)+size > limit {
			return out, 0, false, errTooLarge
		}
		if len(b) < start+size+2 {
			return out, 0, false, nil
		}
		if b[start+size] != '\r' || b[start+size+1] != '\n' {
			return out, 0, false, malformed("chunk not followed by CRLF")
		}
		out = append(out, b[start:start+size]...)
		n = start + size + 2
	}
}

// parseHex parses 1–8 hex digits.
func parseHex(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	n := 0
	for _, ch := range b {
		switch {
		case '0' <= ch && ch <= '9':
			n = n<<4 | int(ch-'0')
		case 'a' <= lower(ch) && lower(ch) <= 'f':
			n = n<<4 | int(lower(ch)-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// appendHead appends an answer's head for a JSON body of n bytes.
func appendHead(b []byte, code, n int, closing bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	if closing {
		b = append(b, "\r\nConnection: close"...)
	}
	return append(b, "\r\n\r\n"...)
}

// bodyKind is how a request's body holds its parameters.
type bodyKind uint8

const (
	bodyNone bodyKind = iota
	bodyJSON
	bodyForm
	bodyMultipart
)

// request is the part of an HTTP request the methods look at. Its slices
// belong to the connection and are valid until the answer is written.
type request struct {
	query    []byte
	kind     bodyKind
	body     []byte
	boundary []byte
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
