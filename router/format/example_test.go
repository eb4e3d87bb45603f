package format_test

import (
	"fmt"

	"github.com/tidygram/tidygram/router/format"
	"github.com/tidygram/tidygram/tg"
)

// Text from users goes into markup escaped for the parse mode.
func ExampleEscapeHTML() {
	name := `Tom & "Jerry" <3`
	fmt.Println("<b>" + format.EscapeHTML(name) + "</b>")
	fmt.Println(`<a href="` + format.EscapeHTML("https://x.io/?a=1&b=2") + `">link</a>`)
	// Output:
	// <b>Tom &amp; &quot;Jerry&quot; &lt;3</b>
	// <a href="https://x.io/?a=1&amp;b=2">link</a>
}

func ExampleEscapeMarkdownV2() {
	price := "1.5 (-10%)!"
	fmt.Println("*Price:* " + format.EscapeMarkdownV2(price))
	fmt.Println("`" + format.EscapeMarkdownV2Code("a `b` \\c") + "`")
	fmt.Println("[docs](" + format.EscapeMarkdownV2URL("https://x.io/a_(b)") + ")")
	// Output:
	// *Price:* 1\.5 \(\-10%\)\!
	// `a \`b\` \\c`
	// [docs](https://x.io/a_(b\))
}

// A Builder needs no escaping: the text goes as it is, the formatting as
// entities with UTF-16 offsets (the emoji counts two).
func ExampleBuilder() {
	var b format.Builder
	b.Plain("🎉 ").Bold("Ann").Plain(", order ").Code("#A-17").Plain(" is ").
		Link("ready", "https://shop.example/o/17")
	fmt.Println(b.String())
	for _, e := range b.Entities() {
		fmt.Printf("%s at %d+%d: %q\n", e.Type, e.Offset, e.Length, format.EntityText(b.String(), e))
	}
	// Output:
	// 🎉 Ann, order #A-17 is ready
	// bold at 3+3: "Ann"
	// code at 14+5: "#A-17"
	// text_link at 23+5: "ready"
}

// Wrap nests entities: the enclosing one comes first.
func ExampleBuilder_Wrap() {
	var b format.Builder
	b.Wrap(tg.MessageEntity{Type: "bold"}, func(b *format.Builder) {
		b.Plain("all bold, ").Italic("partly italic")
	})
	for _, e := range b.Entities() {
		fmt.Printf("%s at %d+%d\n", e.Type, e.Offset, e.Length)
	}
	// Output:
	// bold at 0+23
	// italic at 10+13
}

// Entities of a received message are read with the UTF-16 offsets
// Telegram sends.
func ExampleEntityText() {
	text := "👋 visit https://go.dev"
	e := tg.MessageEntity{Type: "url", Offset: 9, Length: 14}
	fmt.Println(format.EntityText(text, e), format.UTF16Len(text))
	// Output: https://go.dev 23
}
