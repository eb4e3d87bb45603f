package format

import (
	"strings"

	"github.com/tidygram/tidygram/tg"
)

// Builder builds a message's text with its entities: text from anywhere —
// a user's name, a product title — goes in as it is, never escaped, and
// formatting travels beside it as []tg.MessageEntity with UTF-16 offsets.
// Send String() as the text and Entities() as the entities (or the caption
// entities), with no parse mode:
//
//	var b format.Builder
//	b.Plain("Hello, ").Bold(user.FirstName).Plain("! Your order ").Code("#A-17").Plain(" is ready.")
//	return c.Send(b.String(), router.WithEntities(b.Entities()))
//
// Entities are in the order Telegram lists them: by offset, an enclosing
// entity before those it contains. Empty text adds no entity (Telegram
// refuses empty entities). The zero Builder is empty and ready; a Builder
// must not be copied after first use, nor used by two goroutines at once.
type Builder struct {
	text     strings.Builder
	units    int64 // UTF-16 length of text
	entities []tg.MessageEntity
}

// Plain appends s without formatting.
func (b *Builder) Plain(s string) *Builder {
	b.text.WriteString(s)
	b.units += int64(UTF16Len(s))
	return b
}

// Bold appends s in bold.
func (b *Builder) Bold(s string) *Builder { return b.add("bold", s) }

// Italic appends s in italics.
func (b *Builder) Italic(s string) *Builder { return b.add("italic", s) }

// Underline appends s underlined.
func (b *Builder) Underline(s string) *Builder { return b.add("underline", s) }

// Strikethrough appends s struck through.
func (b *Builder) Strikethrough(s string) *Builder { return b.add("strikethrough", s) }

// Spoiler appends s hidden under a spoiler.
func (b *Builder) Spoiler(s string) *Builder { return b.add("spoiler", s) }

// Code appends s in a monowidth font, inline.
func (b *Builder) Code(s string) *Builder { return b.add("code", s) }

// Pre appends s as a monowidth block, highlighted as language ("" for
// none).
func (b *Builder) Pre(s, language string) *Builder {
	return b.Entity(tg.MessageEntity{Type: "pre", Language: language}, s)
}

// Blockquote appends s as a block quotation.
func (b *Builder) Blockquote(s string) *Builder { return b.add("blockquote", s) }

// ExpandableBlockquote appends s as a block quotation collapsed by default.
func (b *Builder) ExpandableBlockquote(s string) *Builder {
	return b.add("expandable_blockquote", s)
}

// Link appends s as a link to url (a text_link entity).
func (b *Builder) Link(s, url string) *Builder {
	return b.Entity(tg.MessageEntity{Type: "text_link", URL: url}, s)
}

// Mention appends s as a mention of user (a text_mention entity, for users
// without a username; only user.ID is needed). Telegram shows it as a
// mention only to users who may see user (see the Bot API's notes on
// tg://user links).
func (b *Builder) Mention(s string, user tg.User) *Builder {
	return b.Entity(tg.MessageEntity{Type: "text_mention", User: &user}, s)
}

// CustomEmoji appends s (an emoji shown where the custom one cannot be) as
// the custom emoji id.
func (b *Builder) CustomEmoji(s, id string) *Builder {
	return b.Entity(tg.MessageEntity{Type: "custom_emoji", CustomEmojiID: id}, s)
}

func (b *Builder) add(typ, s string) *Builder { return b.Entity(tg.MessageEntity{Type: typ}, s) }

// Entity appends s covered by e; e's offset and length are set by the
// Builder.
func (b *Builder) Entity(e tg.MessageEntity, s string) *Builder {
	return b.Wrap(e, func(b *Builder) { b.Plain(s) })
}

// Wrap appends what fn writes covered by e (offset and length set by the
// Builder), for nested formatting:
//
//	b.Wrap(tg.MessageEntity{Type: "bold"}, func(b *format.Builder) {
//		b.Plain("bold, ").Italic("bold italic")
//	})
//
// Telegram accepts bold, italic, underline, strikethrough and spoiler
// around and inside any entity but code and pre; other entities cannot
// contain each other, and blockquotes cannot be nested.
func (b *Builder) Wrap(e tg.MessageEntity, fn func(b *Builder)) *Builder {
	start := b.units
	i := len(b.entities)
	b.entities = append(b.entities, tg.MessageEntity{}) // its place: before what fn adds
	fn(b)
	if b.units == start {
		b.entities = append(b.entities[:i], b.entities[i+1:]...)
		return b
	}
	e.Offset, e.Length = start, b.units-start
	b.entities[i] = e
	return b
}

// String returns the text built so far.
func (b *Builder) String() string { return b.text.String() }

// Entities returns the entities built so far (nil if none), a copy the
// caller may keep.
func (b *Builder) Entities() []tg.MessageEntity {
	if len(b.entities) == 0 {
		return nil
	}
	return append([]tg.MessageEntity(nil), b.entities...)
}

// Len returns the length of the text in UTF-16 code units, the unit of
// Telegram's limits (4096 for a message, 1024 for a caption).
func (b *Builder) Len() int { return int(b.units) }

// Reset empties b.
func (b *Builder) Reset() {
	b.text.Reset()
	b.units = 0
	b.entities = b.entities[:0]
}
