// Package format writes formatted Telegram text two ways:
//
//   - escaping for the parse modes, so that text from users can be put
//     into HTML or MarkdownV2 markup: EscapeHTML, EscapeMarkdownV2 (and
//     its code and link forms), EscapeMarkdown for the legacy mode. Each
//     escapes exactly the characters the Bot API's "Formatting options"
//     name for the place the text goes.
//   - a Builder of plain text and entities, which needs no escaping at
//     all: send its String with its Entities and no parse mode. Offsets and
//     lengths are counted in UTF-16 code units, as Telegram counts them
//     (a character outside the Basic Multilingual Plane — most emoji —
//     counts two).
//
// With package router: router.WithParseMode, router.WithEntities, and
// router.DefaultParseMode for a bot-wide parse mode.
//
// format has no state and starts nothing; every function is safe for
// concurrent use. Text must be valid UTF-8 (an invalid byte counts as one
// UTF-16 unit, as the U+FFFD it is sent as).
package format

import (
	"strings"
	"unicode/utf8"

	"github.com/tidygram/tidygram/tg"
)

// The parse modes of the Bot API, for the parse_mode parameters.
const (
	HTML       = "HTML"
	MarkdownV2 = "MarkdownV2"
	// Markdown is the legacy mode, kept by Telegram for compatibility; use
	// MarkdownV2 or HTML.
	Markdown = "Markdown"
)

// EscapeHTML escapes s for the HTML parse mode: the <, > and & that are not
// part of a tag or an entity become &lt;, &gt; and &amp;, as the Bot API
// requires, and " becomes &quot; so that the result is also safe inside an
// attribute value in double quotes (<a href="…">). Every other character,
// ' included, is left as it is.
func EscapeHTML(s string) string {
	return escape(s, func(c byte) string {
		switch c {
		case '&':
			return "&amp;"
		case '<':
			return "&lt;"
		case '>':
			return "&gt;"
		case '"':
			return "&quot;"
		}
		return ""
	})
}

// markdownV2Special reports the characters that must be escaped in
// MarkdownV2 text outside code, pre and link URLs: the Bot API's '_', '*',
// '[', ']', '(', ')', '~', '`', '>', '#', '+', '-', '=', '|', '{', '}',
// '.', '!', and '\' itself (the escape character).
func markdownV2Special(c byte) bool {
	switch c {
	case '_', '*', '[', ']', '(', ')', '~', '`', '>', '#', '+', '-', '=', '|', '{', '}', '.', '!', '\\':
		return true
	}
	return false
}

// EscapeMarkdownV2 escapes s for MarkdownV2 text outside code, pre and the
// URL part of links: each of _ * [ ] ( ) ~ ` > # + - = | { } . ! and \
// gets a preceding \.
func EscapeMarkdownV2(s string) string { return escapeWith(s, markdownV2Special) }

// EscapeMarkdownV2Code escapes s for the inside of a MarkdownV2 code or pre
// entity (`…` or ```…```): ` and \ get a preceding \.
func EscapeMarkdownV2Code(s string) string {
	return escapeWith(s, func(c byte) bool { return c == '`' || c == '\\' })
}

// EscapeMarkdownV2URL escapes s for the (…) part of a MarkdownV2 inline
// link or custom emoji: ) and \ get a preceding \.
func EscapeMarkdownV2URL(s string) string {
	return escapeWith(s, func(c byte) bool { return c == ')' || c == '\\' })
}

// EscapeMarkdown escapes s for text outside entities in the legacy
// Markdown mode: _ * ` and [ get a preceding \. The legacy mode cannot
// escape inside an entity; prefer MarkdownV2.
func EscapeMarkdown(s string) string {
	return escapeWith(s, func(c byte) bool { return c == '_' || c == '*' || c == '`' || c == '[' })
}

// Escape escapes s for plain text in the parse mode named mode (HTML,
// MarkdownV2 or Markdown, as Telegram accepts them, in any case); for ""
// and unknown modes it returns s.
func Escape(mode, s string) string {
	switch strings.ToLower(mode) {
	case "html":
		return EscapeHTML(s)
	case "markdownv2":
		return EscapeMarkdownV2(s)
	case "markdown":
		return EscapeMarkdown(s)
	}
	return s
}

// escapeWith puts a backslash before the bytes special reports. Every
// special character is ASCII, so no byte of a multi-byte sequence is one.
func escapeWith(s string, special func(c byte) bool) string {
	return escape(s, func(c byte) string {
		if special(c) {
			return "\\" + string(c)
		}
		return ""
	})
}

// escape replaces each byte of s for which repl returns a string; it
// returns s itself when nothing is replaced.
func escape(s string, repl func(c byte) string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		r := repl(s[i])
		if r == "" {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s) + len(s)/8 + len(r))
		}
		b.WriteString(s[last:i])
		b.WriteString(r)
		last = i + 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// UTF16Len returns the length of s in UTF-16 code units, the unit of
// entity offsets and lengths and of Telegram's text limits (4096 for a
// message, 1024 for a caption).
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16Len(r)
	}
	return n
}

func utf16Len(r rune) int {
	if r >= 0x10000 && r <= utf8.MaxRune {
		return 2
	}
	return 1
}

// EntityText returns the part of text that e covers (its offset and length
// are UTF-16 code units): "" when e reaches past the end of text. A
// position inside a surrogate pair moves to the end of its character.
func EntityText(text string, e tg.MessageEntity) string {
	if e.Offset < 0 || e.Length <= 0 {
		return ""
	}
	start, ok := byteAt(text, e.Offset)
	end, ok2 := byteAt(text, e.Offset+e.Length)
	if !ok || !ok2 {
		return ""
	}
	return text[start:end]
}

// byteAt returns the index of the first byte of text at or after the UTF-16
// position pos, and false when pos is past the end of text.
func byteAt(text string, pos int64) (int, bool) {
	units := int64(0)
	for i, r := range text {
		if units >= pos {
			return i, true
		}
		units += int64(utf16Len(r))
	}
	return len(text), units >= pos
}
