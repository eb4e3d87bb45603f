package tg

import (
	"errors"
	"net/url"
	"strings"
)

// redactedToken replaces the bot token wherever it would otherwise appear.
const redactedToken = "<token>"

// redactor removes one bot token from strings and errors. Request and file
// URLs embed the token, net/http's *url.Error repeats the URL, and a server
// or proxy may echo the path back in an error page or description, possibly
// percent-encoded (the colon as %3A or %3a, or every byte), so every error
// the Client returns passes through err first.
//
// It finds the token, and its secret part (after the first colon) on its
// own, in every encoding that percent-decodes to it: raw, path- or
// query-escaped, any byte escaped or not, hex digits in either case. A
// token cannot hold '%' (NewClient refuses it), so every '%' followed by two
// hex digits in a string can be an escape of one of its bytes.
type redactor struct {
	token  string // as the Client puts it into URLs
	secret string // the part after the first colon; the whole token without one
}

func newRedactor(token string) redactor {
	r := redactor{token: token, secret: token}
	if _, s, ok := strings.Cut(token, ":"); ok && s != "" {
		r.secret = s
	}
	return r
}

// window is the longest a form of the token can be: every byte escaped.
func (r redactor) window() int { return 3 * len(r.token) }

// contains reports whether s holds the token or its secret part, in any
// encoding.
func (r redactor) contains(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := matchAt(s, i, r.secret); ok {
			return true
		}
	}
	return false
}

// string returns s with every occurrence of the token, and then of its
// secret part, replaced by redactedToken, whatever the encoding.
func (r redactor) string(s string) string {
	if !r.contains(s) {
		return s
	}
	return replaceEncoded(replaceEncoded(s, r.token), r.secret)
}

// replaceEncoded replaces every substring of s that percent-decodes to pat
// by redactedToken, scanning left to right.
func replaceEncoded(s, pat string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if end, ok := matchAt(s, i, pat); ok {
			b.WriteString(redactedToken)
			i = end
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// matchAt reports whether s, from i, percent-decodes to pat (each byte of
// pat either literal or escaped as %XX in any case), and where the match
// ends.
func matchAt(s string, i int, pat string) (end int, ok bool) {
	for k := 0; k < len(pat); k++ {
		c, n := decodedByte(s, i)
		if n == 0 || c != pat[k] {
			return 0, false
		}
		i += n
	}
	return i, true
}

// decodedByte returns the byte at s[i] and how many bytes of s it takes:
// 3 for a percent escape, 1 for a literal, 0 at the end of s.
func decodedByte(s string, i int) (byte, int) {
	switch {
	case i >= len(s):
		return 0, 0
	case s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
		return unhex(s[i+1])<<4 | unhex(s[i+2]), 3
	}
	return s[i], 1
}

// partialAt reports whether all of s from i percent-decodes to a
// non-empty proper prefix of pat, allowing an escape cut after its '%' or
// its first hex digit at the end of s.
func partialAt(s string, i int, pat string) bool {
	k := 0
	for i < len(s) {
		if k == len(pat) {
			return false
		}
		if s[i] == '%' && len(s)-i < 3 { // an escape cut by the end of s
			return len(s)-i == 1 || isHex(s[i+1]) && unhex(s[i+1]) == pat[k]>>4
		}
		c, n := decodedByte(s, i)
		if c != pat[k] {
			return false
		}
		i += n
		k++
	}
	return k > 0 && k < len(pat)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// snippet returns at most the first 64 bytes of a body, token redacted,
// for error messages. A token (or secret part) cut by the window's end, in
// any encoding, is dropped as well.
func (r redactor) snippet(b []byte) string {
	const n = 64
	w := n + r.window()
	cut := len(b) > w
	if cut {
		b = b[:w]
	}
	s := r.string(string(b))
	if cut {
		s = r.trimPartial(s)
	}
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// trimPartial removes the longest suffix of s that is the start of the
// token or of its secret part, in any encoding.
func (r redactor) trimPartial(s string) string {
	for i := max(0, len(s)-r.window()); i < len(s); i++ {
		if partialAt(s, i, r.token) || partialAt(s, i, r.secret) {
			return s[:i]
		}
	}
	return s
}

// err returns err unchanged when its message does not hold the token.
// Otherwise a *url.Error is copied with its URL redacted (its Err redacted in
// turn), so errors.Is and errors.As keep working on the cause; any other error
// is replaced by one with the redacted message that unwraps to the redacted
// cause, so the token cannot be reached through the chain either.
func (r redactor) err(err error) error {
	if err == nil || !r.contains(err.Error()) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue == err {
		return &url.Error{Op: ue.Op, URL: r.string(ue.URL), Err: r.err(ue.Err)}
	}
	return &redactedError{msg: r.string(err.Error()), cause: r.err(errors.Unwrap(err))}
}

// redactedError stands in for an error whose message held the token.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }
