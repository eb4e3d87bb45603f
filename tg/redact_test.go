package tg

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// percentAll percent-encodes every byte of s, in upper- or lower-case hex.
func percentAll(s string, lower bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if lower {
			fmt.Fprintf(&b, "%%%02x", s[i])
		} else {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
	}
	return b.String()
}

// decodeLenient percent-decodes every valid escape of s, in any case,
// leaving everything else as it is.
func decodeLenient(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && s[i+1] != '+' && s[i+1] != '-' {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// leaksSecret reports whether msg holds 8 or more consecutive bytes of the
// token's secret part, raw or percent-encoded.
func leaksSecret(msg, secret string) bool {
	const run = 8
	for _, m := range []string{msg, decodeLenient(msg), strings.ToLower(decodeLenient(strings.ToLower(msg)))} {
		for i := 0; i+run <= len(secret); i++ {
			if strings.Contains(m, secret[i:i+run]) {
				return true
			}
		}
	}
	return false
}

// TestTokenRedactionEncodings: a server or proxy that echoes the request
// path percent-encoded (the colon as %3A or %3a, the path- or
// query-escaped token, every byte escaped, the secret part alone) must not
// get the token into errors: not in an API error's description, not in a
// response snippet, at any offset around the snippet's cut.
func TestTokenRedactionEncodings(t *testing.T) {
	tokens := []string{testToken, "42:weird|token{x}^y", "7:a+b=c&d~e!f*g(h)"}
	encodings := []struct {
		name string
		enc  func(token string) string
	}{
		{"raw", func(tok string) string { return tok }},
		{"colon %3A", func(tok string) string { return strings.Replace(tok, ":", "%3A", 1) }},
		{"colon %3a", func(tok string) string { return strings.Replace(tok, ":", "%3a", 1) }},
		{"PathEscape", url.PathEscape},
		{"PathEscape lower hex", func(tok string) string { return lowerHex(url.PathEscape(tok)) }},
		{"QueryEscape", url.QueryEscape},
		{"QueryEscape lower hex", func(tok string) string { return lowerHex(url.QueryEscape(tok)) }},
		{"every byte, upper hex", func(tok string) string { return percentAll(tok, false) }},
		{"every byte, lower hex", func(tok string) string { return percentAll(tok, true) }},
		{"secret alone", func(tok string) string { return "secret=" + secretOf(tok) }},
		{"secret alone, escaped", func(tok string) string { return "secret=" + percentAll(secretOf(tok), true) }},
		{"mixed", func(tok string) string {
			e := percentAll(tok, false)
			return e[:len(e)/2] + strings.ToLower(e[len(e)/2:])
		}},
	}
	for _, token := range tokens {
		secret := secretOf(token)
		for _, enc := range encodings {
			t.Run(token+"/"+enc.name, func(t *testing.T) {
				echo := "/bot" + enc.enc(token) + "/x"
				f := newFakeAPIToken(t, token, func(w http.ResponseWriter, r *http.Request, method string) {
					switch method {
					case "apiError":
						writeAnswer(w, 400, fmt.Sprintf(`{"ok":false,"error_code":400,"description":%q}`, "Bad Request: no route for "+echo))
					default: // an HTML page with the echo at every offset around the 64-byte snippet
						w.Header().Set("Content-Type", "text/html")
						w.WriteHeader(502)
						for i := 0; i < 64+len(echo); i++ {
							fmt.Fprintf(w, "%s<p>%s</p>", strings.Repeat(" ", i%97), echo)
						}
					}
				})
				c := f.client(t)
				for _, m := range []string{"apiError", "html"} {
					err := c.Call(context.Background(), m, nil, nil)
					if err == nil {
						t.Fatalf("%s: no error", m)
					}
					for e := err; e != nil; e = errors.Unwrap(e) {
						for _, verb := range []string{"%v", "%+v", "%#v"} {
							if s := fmt.Sprintf(verb, e); leaksSecret(s, secret) {
								t.Fatalf("%s: %s of %T holds the secret: %s", m, verb, e, s)
							}
						}
					}
				}
				// The snippet at every cut of the window: a body that holds the
				// echo starting at each offset up to the window's end.
				red := newRedactor(token)
				for off := 0; off < 64+3*len(token)+8; off++ {
					body := strings.Repeat("x", off) + echo + strings.Repeat("y", 200)
					if s := red.snippet([]byte(body)); leaksSecret(s, secret) {
						t.Fatalf("snippet of the echo at offset %d holds the secret: %q", off, s)
					}
				}
				if got := red.string("<" + echo + ">"); leaksSecret(got, secret) || !strings.Contains(got, redactedToken) {
					t.Fatalf("string(%q) = %q", echo, got)
				}
			})
		}
	}
}

func secretOf(token string) string {
	if _, s, ok := strings.Cut(token, ":"); ok {
		return s
	}
	return token
}

// lowerHex lowers the hex digits of every percent escape in s.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lower(b[i+1]), lower(b[i+2])
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// TestRedactorKeepsOtherText: redaction replaces the token and nothing
// else, and a string without it is returned as it is.
func TestRedactorKeepsOtherText(t *testing.T) {
	red := newRedactor(testToken)
	for in, want := range map[string]string{
		"":                                 "",
		"no token here: 123456789 %3A AAE": "no token here: 123456789 %3A AAE",
		"/bot" + testToken + "/getMe":      "/bot<token>/getMe",
		"/bot123456789%3a" + secretOf(testToken) + "/getMe": "/bot<token>/getMe",
		"a " + secretOf(testToken) + " b":                   "a <token> b",
		"100%":                                              "100%",
	} {
		if got := red.string(in); got != want {
			t.Errorf("string(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactor: whatever the string, redaction and snippets leave no
// encoding of the secret part.
func FuzzRedactor(f *testing.F) {
	for _, s := range []string{
		"/bot" + testToken + "/x", "/bot123456789%3a" + secretOf(testToken), percentAll(testToken, false),
		"%%3A%3" + secretOf(testToken)[:5] + "%" + secretOf(testToken)[5:], "",
	} {
		f.Add(s)
	}
	red := newRedactor(testToken)
	secret := secretOf(testToken)
	f.Fuzz(func(t *testing.T, s string) {
		got := red.string(s)
		if strings.Contains(decodeLenient(got), secret) || strings.Contains(got, secret) {
			t.Fatalf("string(%q) = %q holds the secret", s, got)
		}
		if sn := red.snippet([]byte(s)); strings.Contains(decodeLenient(sn), secret) {
			t.Fatalf("snippet(%q) = %q holds the secret", s, sn)
		}
	})
}
