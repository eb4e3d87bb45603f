package fakeapi

import (
	"bytes"
	"encoding/json"
	"net/url"
)

// Parameters are found by a byte search in the query and body, never by
// decoding the body (see the package documentation for the limit).

// source is where a parameter was found.
type source uint8

const (
	srcQuery source = iota
	srcJSON
	srcForm
	srcMultipart
)

// value is a parameter's bytes as sent: a JSON string without its quotes
// (escapes kept), a form value still percent-encoded, a multipart part's
// content as it is.
type value struct {
	b      []byte
	src    source
	quoted bool // a JSON string
}

// param finds key in the query, then in the body.
func (r *request) param(key string) (value, bool) {
	if v, ok := formValue(r.query, key); ok {
		return value{b: v, src: srcQuery}, true
	}
	switch r.kind {
	case bodyJSON:
		v, quoted, ok := jsonValue(r.body, key)
		return value{b: v, src: srcJSON, quoted: quoted}, ok
	case bodyForm:
		v, ok := formValue(r.body, key)
		return value{b: v, src: srcForm}, ok
	case bodyMultipart:
		v, ok := multipartValue(r.body, r.boundary, key)
		return value{b: v, src: srcMultipart}, ok
	}
	return value{}, false
}

// int reads key as an integer (a JSON number or a string holding one).
// ok is false when key is absent; err is set when it is not an integer.
func (r *request) int(key string) (n int64, ok bool, err error) {
	v, ok := r.param(key)
	if !ok {
		return 0, false, nil
	}
	b := v.b
	if (v.src == srcQuery || v.src == srcForm) && bytes.ContainsAny(b, "%+") {
		s, err := url.QueryUnescape(string(b))
		if err != nil {
			return 0, true, &httpError{code: 400, text: "Bad Request: parameter \"" + key + "\" is not percent-encoded correctly"}
		}
		b = []byte(s)
	}
	n, good := parseInt(trimSpace(b))
	if !good {
		return 0, true, &httpError{code: 400, text: "Bad Request: parameter \"" + key + "\" is not an integer"}
	}
	return n, true, nil
}

// str reads key as a string, decoding JSON escapes and percent-encoding.
func (r *request) str(key string) (string, bool, error) {
	v, ok := r.param(key)
	if !ok {
		return "", false, nil
	}
	switch {
	case v.src == srcJSON && v.quoted && bytes.IndexByte(v.b, '\\') >= 0:
		var s string
		if err := json.Unmarshal(append(append([]byte{'"'}, v.b...), '"'), &s); err != nil {
			return "", true, &httpError{code: 400, text: "Bad Request: parameter \"" + key + "\" is not a valid JSON string"}
		}
		return s, true, nil
	case v.src == srcQuery || v.src == srcForm:
		s, err := url.QueryUnescape(string(v.b))
		if err != nil {
			return "", true, &httpError{code: 400, text: "Bad Request: parameter \"" + key + "\" is not percent-encoded correctly"}
		}
		return s, true, nil
	}
	return string(v.b), true, nil
}

// bool reads key as a boolean ("true", "True", "1"; anything else is false).
func (r *request) bool(key string) bool {
	v, ok := r.param(key)
	return ok && (foldEq(trimSpace(v.b), "true") || string(trimSpace(v.b)) == "1")
}

// jsonValue finds `"key":` in a JSON object and returns its value: a
// string's content without quotes (quoted true) or a literal's text.
func jsonValue(b []byte, key string) (v []byte, quoted, ok bool) {
	for from := 0; from < len(b); {
		i := indexString(b[from:], key)
		if i < 0 {
			return nil, false, false
		}
		i += from
		end := i + len(key)
		from = end
		if i == 0 || b[i-1] != '"' || end >= len(b) || b[end] != '"' || (i >= 2 && b[i-2] == '\\') {
			continue
		}
		j := skipJSONSpace(b, end+1)
		if j >= len(b) || b[j] != ':' {
			continue
		}
		j = skipJSONSpace(b, j+1)
		if j >= len(b) {
			return nil, false, false
		}
		if b[j] == '"' {
			for k := j + 1; k < len(b); k++ {
				switch b[k] {
				case '\\':
					k++
				case '"':
					return b[j+1 : k], true, true
				}
			}
			return nil, false, false // unterminated
		}
		k := j
		for k < len(b) && b[k] != ',' && b[k] != '}' && b[k] != ']' && b[k] != ' ' && b[k] != '\n' && b[k] != '\r' && b[k] != '\t' {
			k++
		}
		return b[j:k], false, true
	}
	return nil, false, false
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// formValue finds key in a form-urlencoded text (a query or a body) and
// returns its value, still percent-encoded; "key" alone has an empty value.
func formValue(b []byte, key string) ([]byte, bool) {
	for len(b) > 0 {
		pair, rest, _ := cutByte(b, '&')
		b = rest
		if len(pair) < len(key) || string(pair[:len(key)]) != key {
			continue
		}
		if len(pair) == len(key) {
			return pair[len(pair):], true
		}
		if pair[len(key)] == '=' {
			return pair[len(key)+1:], true
		}
	}
	return nil, false
}

// multipartValue finds the part named key in a multipart/form-data body and
// returns its content.
func multipartValue(b, boundary []byte, key string) ([]byte, bool) {
	for from := 0; from < len(b); {
		i := indexString(b[from:], key)
		if i < 0 {
			return nil, false
		}
		i += from
		end := i + len(key)
		from = end
		if i < 6 || string(b[i-6:i]) != `name="` || end >= len(b) || b[end] != '"' {
			continue
		}
		start := bytes.Index(b[end:], []byte("\r\n\r\n"))
		if start < 0 {
			return nil, false
		}
		start += end + 4
		for k := start; ; {
			n := bytes.Index(b[k:], []byte("\r\n--"))
			if n < 0 {
				return nil, false
			}
			k += n
			if bytes.HasPrefix(b[k+4:], boundary) {
				return b[start:k], true
			}
			k += 4
		}
	}
	return nil, false
}

// indexString is bytes.Index for a string needle, without converting it.
func indexString(b []byte, s string) int {
	if len(s) == 0 {
		return 0
	}
	for i := 0; i+len(s) <= len(b); {
		j := bytes.IndexByte(b[i:len(b)-len(s)+1], s[0])
		if j < 0 {
			return -1
		}
		i += j
		if string(b[i:i+len(s)]) == s {
			return i
		}
		i++
	}
	return -1
}

// parseInt parses an optionally signed decimal integer that fits in int64.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok || u < 0 {
		return 0, false
	}
	if neg {
		return -u, true
	}
	return u, true
}

// parseUint parses 1–18 decimal digits (enough for any id and length).
func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	return n, true
}

// Byte helpers on ASCII, without allocating.

func trimEOL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// cutByte is bytes.Cut for one separator byte.
func cutByte(b []byte, sep byte) (before, after []byte, found bool) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldEq reports whether b equals s, ASCII case-insensitively.
func foldEq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// indexFold is the index of s in b, ASCII case-insensitively, or -1.
func indexFold(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if foldEq(b[i:i+len(s)], s) {
			return i
		}
	}
	return -1
}

func containsFold(b []byte, s string) bool { return indexFold(b, s) >= 0 }
