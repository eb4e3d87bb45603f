package format

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"

	"go.uber.org/goleak"

	"github.com/tidygram/tidygram/tg"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The Bot API's "Formatting options", MarkdownV2 style: "In all other
// places characters '_', '*', '[', ']', '(', ')', '~', '`', '>', '#', '+',
// '-', '=', '|', '{', '}', '.', '!' must be escaped with the preceding
// character '\'", and '\' itself (it escapes "any character with code
// between 1 and 126").
const specMarkdownV2 = "_*[]()~`>#+-=|{}.!\\"

func TestEscapeMarkdownV2EveryCharacter(t *testing.T) {
	for c := 0; c < 128; c++ {
		s := string(rune(c))
		want := s
		if strings.ContainsRune(specMarkdownV2, rune(c)) {
			want = "\\" + s
		}
		if got := EscapeMarkdownV2(s); got != want {
			t.Errorf("EscapeMarkdownV2(%q) = %q, want %q", s, got, want)
		}
	}
	// Inside code and pre: '`' and '\'. Inside a link's (...): ')' and '\'.
	for c := 0; c < 128; c++ {
		s := string(rune(c))
		code, url := s, s
		if c == '`' || c == '\\' {
			code = "\\" + s
		}
		if c == ')' || c == '\\' {
			url = "\\" + s
		}
		if got := EscapeMarkdownV2Code(s); got != code {
			t.Errorf("EscapeMarkdownV2Code(%q) = %q, want %q", s, got, code)
		}
		if got := EscapeMarkdownV2URL(s); got != url {
			t.Errorf("EscapeMarkdownV2URL(%q) = %q, want %q", s, got, url)
		}
	}
}

// HTML style: "All <, > and & symbols that are not a part of a tag or an
// HTML entity must be replaced with the corresponding HTML entities (<
// with &lt;, > with &gt; and & with &amp;)"; of the named entities only
// &lt;, &gt;, &amp; and &quot; are supported — " is escaped for attribute
// values.
func TestEscapeHTMLEveryCharacter(t *testing.T) {
	want := map[rune]string{'<': "&lt;", '>': "&gt;", '&': "&amp;", '"': "&quot;"}
	for c := rune(0); c < 128; c++ {
		s := string(c)
		w, ok := want[c]
		if !ok {
			w = s
		}
		if got := EscapeHTML(s); got != w {
			t.Errorf("EscapeHTML(%q) = %q, want %q", s, got, w)
		}
	}
}

// Legacy Markdown: "To escape characters '_', '*', '`', '[' outside of an
// entity, prepend the characters '\' before them."
func TestEscapeMarkdownLegacy(t *testing.T) {
	for c := rune(0); c < 128; c++ {
		s := string(c)
		w := s
		if strings.ContainsRune("_*`[", c) {
			w = "\\" + s
		}
		if got := EscapeMarkdown(s); got != w {
			t.Errorf("EscapeMarkdown(%q) = %q, want %q", s, got, w)
		}
	}
}

func TestEscapeText(t *testing.T) {
	tests := []struct {
		mode, in, want string
	}{
		{HTML, `Tom & "Jerry" <3 'n' 🎉`, `Tom &amp; &quot;Jerry&quot; &lt;3 'n' 🎉`},
		{"html", "a<b", "a&lt;b"},
		{MarkdownV2, "1.5 + (2-1) = 2.5! ünï_🎉", `1\.5 \+ \(2\-1\) \= 2\.5\! ünï\_🎉`},
		{"markdownv2", `C:\dir`, `C:\\dir`},
		{Markdown, "a_b*c", `a\_b\*c`},
		{"", "<b>", "<b>"},
		{"unknown", "<b>", "<b>"},
		{HTML, "", ""},
		{HTML, "plain text, nothing to do", "plain text, nothing to do"},
	}
	for _, tt := range tests {
		if got := Escape(tt.mode, tt.in); got != tt.want {
			t.Errorf("Escape(%q, %q) = %q, want %q", tt.mode, tt.in, got, tt.want)
		}
	}
	// Multi-byte characters never hold an escaped byte.
	s := "日本語 — ✓ 𝔘 \u00a0"
	for _, f := range []func(string) string{EscapeHTML, EscapeMarkdownV2, EscapeMarkdownV2Code, EscapeMarkdownV2URL, EscapeMarkdown} {
		if got := f(s); got != s {
			t.Errorf("escaping changed %q to %q", s, got)
		}
	}
}

func utf16Ref(s string) int { return len(utf16.Encode([]rune(s))) }

func TestUTF16Len(t *testing.T) {
	for _, s := range []string{"", "abc", "ünï", "日本", "🎉", "a🎉b", "👩‍👩‍👧", "🇺🇦", "𝔘𝔫", "\x00", "e\u0301"} {
		if got, want := UTF16Len(s), utf16Ref(s); got != want {
			t.Errorf("UTF16Len(%q) = %d, want %d", s, got, want)
		}
	}
	if got := UTF16Len("a\xffb"); got != 3 { // an invalid byte is one U+FFFD
		t.Errorf("UTF16Len(invalid) = %d, want 3", got)
	}
}

func TestEntityText(t *testing.T) {
	text := "🎉 go 👩‍👩‍👧 https://go.dev"
	tests := []struct {
		off, n int64
		want   string
	}{
		{0, 2, "🎉"},
		{3, 2, "go"},
		{6, 8, "👩‍👩‍👧"},
		{15, 14, "https://go.dev"},
		{0, 29, text},
		{1, 1, ""},   // inside a pair: moves to the end of 🎉, empty
		{0, 1, "🎉"},  // end inside a pair takes the character
		{15, 15, ""}, // past the end
		{30, 1, ""},
		{-1, 2, ""},
		{0, 0, ""},
	}
	for _, tt := range tests {
		if got := EntityText(text, tg.MessageEntity{Offset: tt.off, Length: tt.n}); got != tt.want {
			t.Errorf("EntityText(%d, %d) = %q, want %q", tt.off, tt.n, got, tt.want)
		}
	}
}

func TestBuilder(t *testing.T) {
	var b Builder
	b.Plain("Hi ").Bold("Ann 🎉").Plain(", ").Italic("x").Plain(" ").Code("a<b").Plain("\n").
		Pre("fmt.Println()", "go").Link("docs", "https://go.dev").Spoiler("s").Underline("u").Strikethrough("t").
		Blockquote("q").ExpandableBlockquote("e").Mention("Bob", tg.User{ID: 5}).CustomEmoji("👍", "123").
		Bold("") // empty: no entity
	b.Wrap(tg.MessageEntity{Type: "bold"}, func(b *Builder) {
		b.Plain("👩‍👩‍👧 ").Italic("both")
	})
	b.Wrap(tg.MessageEntity{Type: "italic"}, func(*Builder) {}) // empty: no entity
	text := b.String()
	if want := "Hi Ann 🎉, x a<b\nfmt.Println()docssutqeBob👍👩‍👩‍👧 both"; text != want {
		t.Fatalf("String = %q, want %q", text, want)
	}
	if b.Len() != utf16Ref(text) {
		t.Errorf("Len = %d, want %d", b.Len(), utf16Ref(text))
	}
	wantTypes := []string{"bold", "italic", "code", "pre", "text_link", "spoiler", "underline", "strikethrough",
		"blockquote", "expandable_blockquote", "text_mention", "custom_emoji", "bold", "italic"}
	wantText := []string{"Ann 🎉", "x", "a<b", "fmt.Println()", "docs", "s", "u", "t", "q", "e", "Bob", "👍", "👩‍👩‍👧 both", "both"}
	es := b.Entities()
	if len(es) != len(wantTypes) {
		t.Fatalf("%d entities, want %d: %+v", len(es), len(wantTypes), es)
	}
	prev := int64(-1)
	for i, e := range es {
		if e.Type != wantTypes[i] || EntityText(text, e) != wantText[i] {
			t.Errorf("entity %d: %s %q, want %s %q", i, e.Type, EntityText(text, e), wantTypes[i], wantText[i])
		}
		if e.Offset < prev {
			t.Errorf("entity %d out of order: offset %d after %d", i, e.Offset, prev)
		}
		prev = e.Offset
	}
	if es[1].Offset != 11 { // "Hi Ann 🎉, " is 11 UTF-16 units: the emoji counts 2
		t.Errorf("italic offset %d, want 11", es[1].Offset)
	}
	if es[3].Language != "go" || es[4].URL != "https://go.dev" || es[10].User == nil || es[10].User.ID != 5 || es[11].CustomEmojiID != "123" {
		t.Errorf("entity fields lost: %+v", es)
	}
	// The entities are a copy; Reset empties the builder.
	es[0].Type = "changed"
	if b.Entities()[0].Type != "bold" {
		t.Error("Entities returned the builder's own slice")
	}
	b.Reset()
	if b.String() != "" || b.Entities() != nil || b.Len() != 0 {
		t.Error("Reset left content")
	}
	b.Bold("again")
	if !reflect.DeepEqual(b.Entities(), []tg.MessageEntity{{Type: "bold", Length: 5}}) {
		t.Errorf("after Reset: %+v", b.Entities())
	}
}
