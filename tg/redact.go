package tg

import (
	"errors"
	"net/url"
	"strings"
)

// redactedToken replaces the bot token wherever it would otherwise appear.
const redactedToken = "<token>"

// redactor removes one bot token from strings and errors. Request and file
// URLs embed the token, and net/http's *url.Error repeats the URL, so every
// error the Client returns passes through err first.
type redactor struct {
	token   string // as it appears in a URL built by the Client
	escaped string // url.PathEscape(token), when it differs
}

func newRedactor(token string) redactor {
	r := redactor{token: token}
	if e := url.PathEscape(token); e != token {
		r.escaped = e
	}
	return r
}

// contains reports whether s holds the token in any form.
func (r redactor) contains(s string) bool {
	return strings.Contains(s, r.token) || (r.escaped != "" && strings.Contains(s, r.escaped))
}

// string returns s with every occurrence of the token replaced.
func (r redactor) string(s string) string {
	if !r.contains(s) {
		return s
	}
	s = strings.ReplaceAll(s, r.token, redactedToken)
	if r.escaped != "" {
		s = strings.ReplaceAll(s, r.escaped, redactedToken)
	}
	return s
}

// snippet returns at most the first 64 bytes of a body, token redacted,
// for error messages. A token cut by the window's end is dropped as well.
func (r redactor) snippet(b []byte) string {
	const n = 64
	w := n + len(r.token) + len(r.escaped)
	cut := len(b) > w
	if cut {
		b = b[:w]
	}
	s := r.string(string(b))
	if cut {
		s = trimPrefixOf(trimPrefixOf(s, r.token), r.escaped)
	}
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// trimPrefixOf removes the longest suffix of s that begins tok.
func trimPrefixOf(s, tok string) string {
	for k := min(len(tok)-1, len(s)); k > 0; k-- {
		if strings.HasSuffix(s, tok[:k]) {
			return s[:len(s)-k]
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
