package libs

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// shim wraps a transport and rewrites the requests that the emulator
// (tgtest) refuses although api.telegram.org accepts them, so that the peers
// can be measured at all:
//
//   - a parameter sent as the string "null" (tgbotapi's form bodies
//     "allowed_updates=null" and "entities=null", telebot's JSON
//     "allowed_updates":"null" in getUpdates): it is removed, which means
//     the same to Telegram;
//   - getMe with a multipart body without any part (go-telegram/bot): it is
//     sent as an empty body without a Content-Type.
//
// Small form bodies, getUpdates JSON bodies and getMe bodies are rewritten;
// everything else (uploads included) passes through untouched.
type shim struct{ next http.RoundTripper }

func withShim(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return shim{rt}
}

func (s shim) RoundTrip(r *http.Request) (*http.Response, error) {
	ct := r.Header.Get("Content-Type")
	var fix func([]byte) []byte
	switch {
	case r.Body == nil || r.ContentLength < 0 || r.ContentLength > 64<<10:
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		fix = dropNullForm
	case strings.HasPrefix(ct, "application/json") && strings.HasSuffix(r.URL.Path, "/getUpdates"):
		fix = func(b []byte) []byte {
			b = bytes.Replace(b, []byte(`"allowed_updates":"null",`), nil, 1)
			return bytes.Replace(b, []byte(`,"allowed_updates":"null"`), nil, 1)
		}
	case strings.HasPrefix(ct, "multipart/") && strings.HasSuffix(r.URL.Path, "/getMe"):
		fix = func(b []byte) []byte {
			if t := bytes.TrimSpace(b); len(t) == 0 || bytes.Count(t, []byte("\n")) == 0 {
				r.Header.Del("Content-Type")
				return nil
			}
			return b
		}
	}
	if fix == nil {
		return s.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	body = fix(body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return s.next.RoundTrip(r)
}

// dropNullForm removes "key=null" pairs from a form body.
func dropNullForm(b []byte) []byte {
	if !bytes.Contains(b, []byte("=null")) {
		return b
	}
	out := make([]byte, 0, len(b))
	for pair := range bytes.SplitSeq(b, []byte("&")) {
		if bytes.HasSuffix(pair, []byte("=null")) {
			continue
		}
		if len(out) > 0 {
			out = append(out, '&')
		}
		out = append(out, pair...)
	}
	return out
}
