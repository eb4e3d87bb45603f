package main

import (
	"strings"
	"unicode"
)

// initialisms are the words written in capitals in Go names (Effective Go,
// go/lint's list, restricted to the words the spec uses).
var initialisms = map[string]string{
	"api": "API", "html": "HTML", "http": "HTTP", "https": "HTTPS", "id": "ID",
	"ids": "IDs", "ip": "IP", "json": "JSON", "rtl": "RTL", "uri": "URI",
	"url": "URL", "urls": "URLs", "utf8": "UTF8",
}

// methodNames renames the Bot API methods whose Go name would collide with
// a hand-written method of Client: close would be Client.Close, which closes
// the Client's idle connections.
var methodNames = map[string]string{"close": "CloseInstance"}

// methodName returns the Client method (and XxxParams prefix) of a Bot API
// method.
func methodName(name string) string {
	if n, ok := methodNames[name]; ok {
		return n
	}
	return exportName(name)
}

// exportName turns a snake_case field name ("chat_id") or a camelCase or
// CamelCase spec name ("sendMessage", "MessageId") into an exported Go name
// with initialisms ("ChatID", "SendMessage", "MessageID").
func exportName(s string) string {
	var b strings.Builder
	for _, w := range words(s) {
		if up, ok := initialisms[strings.ToLower(w)]; ok {
			b.WriteString(up)
			continue
		}
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// words splits a name at underscores and at lower-to-upper case changes:
// "sendMessage" → send, Message; "chat_id" → chat, id; "Mpeg4Gif" → Mpeg4, Gif.
func words(s string) []string {
	var out []string
	for _, part := range strings.Split(s, "_") {
		start := 0
		r := []rune(part)
		for i := 1; i < len(r); i++ {
			if unicode.IsUpper(r[i]) && !unicode.IsUpper(r[i-1]) {
				out = append(out, string(r[start:i]))
				start = i
			}
		}
		if start < len(r) {
			out = append(out, string(r[start:]))
		}
	}
	return out
}
