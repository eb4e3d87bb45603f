package router

import (
	"fmt"

	"github.com/tidygram/tidygram/tg"
)

// Keyboards. The builders return the tg markup types themselves, so a
// keyboard fits every method that takes one — the ReplyMarkup of
// tg.SendMessageParams, tg.SendPhotoParams, tg.EditMessageTextParams (inline
// keyboards only), … — as well as Send, Reply and Edit through WithMarkup.
// They are plain structs: set a field to change what the builder chose.

// Button is a button of either kind of keyboard, for Row, Grid and Columns.
type Button interface {
	tg.InlineKeyboardButton | tg.KeyboardButton
}

// InlineKeyboard returns an inline keyboard of rows of buttons (built with
// Row, Grid or Columns and CallbackButton, URLButton or Callback.Button):
//
//	kb := router.InlineKeyboard(
//		router.Row(router.CallbackButton("Yes", "yes"), router.CallbackButton("No", "no")),
//	)
//	return c.Reply("Sure?", router.WithMarkup(kb))
//
// Telegram shows at most 8 buttons in a row and 100 in an inline keyboard.
func InlineKeyboard(rows ...[]tg.InlineKeyboardButton) *tg.InlineKeyboardMarkup {
	return &tg.InlineKeyboardMarkup{InlineKeyboard: rows}
}

// Row returns one row of a keyboard, inline or reply.
func Row[B Button](buttons ...B) []B { return buttons }

// Grid lays buttons out in rows of sizes[0], sizes[1], … buttons; the last
// size repeats for the buttons left, so Grid(b, 2) is two columns and
// Grid(b, 3, 1) is a row of three then one per row (aiogram's adjust).
// The last row may be shorter. Without sizes every button has a row of
// its own. Grid panics on a size below 1: layouts are written in code.
//
//	kb := router.InlineKeyboard(router.Grid(buttons, 2, 3, 1)...)
func Grid[B Button](buttons []B, sizes ...int) [][]B {
	if len(sizes) == 0 {
		sizes = []int{1}
	}
	for _, n := range sizes {
		if n < 1 {
			panic(fmt.Sprintf("router: Grid row size %d: rows hold at least one button", n))
		}
	}
	rows := make([][]B, 0, len(buttons)/sizes[len(sizes)-1]+len(sizes))
	for i := 0; len(buttons) > 0; i++ {
		n := sizes[min(i, len(sizes)-1)]
		n = min(n, len(buttons))
		rows = append(rows, buttons[:n:n])
		buttons = buttons[n:]
	}
	return rows
}

// Columns lays buttons out n to a row (the last row may be shorter).
func Columns[B Button](n int, buttons ...B) [][]B { return Grid(buttons, n) }

// CallbackButton returns an inline button that sends data back as a
// callback query (see OnCallback; Callback.Button builds typed data).
func CallbackButton(text, data string) tg.InlineKeyboardButton {
	return tg.InlineKeyboardButton{Text: text, CallbackData: data}
}

// URLButton returns an inline button that opens url.
func URLButton(text, url string) tg.InlineKeyboardButton {
	return tg.InlineKeyboardButton{Text: text, URL: url}
}

// ReplyKeyboard returns a reply keyboard (the buttons replace the user's
// letter keyboard; pressing one sends its text, or what it requests) of
// rows of buttons built with Row, Grid or Columns and TextButton,
// ContactButton, LocationButton or PollButton. It is resized to fit its
// buttons (ResizeKeyboard; Telegram's default is the full height of the
// letter keyboard). Set the other fields as needed:
//
//	kb := router.ReplyKeyboard(router.Row(router.ContactButton("Share my phone")))
//	kb.OneTimeKeyboard = true               // hidden once pressed
//	kb.InputFieldPlaceholder = "Your phone"
//	return c.Send("We need your phone number.", router.WithMarkup(kb))
//
// Reply keyboards go with messages sent (Send, Reply, sendPhoto, …), not
// with edits, not in channels, not on behalf of a business account. They
// stay until another is sent or RemoveKeyboard.
func ReplyKeyboard(rows ...[]tg.KeyboardButton) *tg.ReplyKeyboardMarkup {
	return &tg.ReplyKeyboardMarkup{Keyboard: rows, ResizeKeyboard: true}
}

// TextButton returns a reply keyboard button that sends text as a message.
func TextButton(text string) tg.KeyboardButton { return tg.KeyboardButton{Text: text} }

// ContactButton returns a reply keyboard button that sends the user's phone
// number as a contact (private chats only; see Contact).
func ContactButton(text string) tg.KeyboardButton {
	return tg.KeyboardButton{Text: text, RequestContact: true}
}

// LocationButton returns a reply keyboard button that sends the user's
// current location (private chats only; see Location).
func LocationButton(text string) tg.KeyboardButton {
	return tg.KeyboardButton{Text: text, RequestLocation: true}
}

// PollButton returns a reply keyboard button that lets the user create a
// poll and send it to the bot: of type "quiz", "regular", or "" for either
// (private chats only; see Poll).
func PollButton(text, pollType string) tg.KeyboardButton {
	return tg.KeyboardButton{Text: text, RequestPoll: &tg.KeyboardButtonPollType{Type: pollType}}
}

// RemoveKeyboard returns the markup that removes the reply keyboard shown
// to the user.
func RemoveKeyboard() *tg.ReplyKeyboardRemove { return &tg.ReplyKeyboardRemove{RemoveKeyboard: true} }

// ForceReply returns the markup that opens the reply interface to the
// bot's message, as if the user had tapped Reply, with placeholder in the
// input field ("": none; at most 64 characters). A step-by-step dialogue
// in a group then works in privacy mode.
func ForceReply(placeholder string) *tg.ForceReply {
	return &tg.ForceReply{ForceReply: true, InputFieldPlaceholder: placeholder}
}

// A SendOption changes what Send and Reply send (the parameters of
// sendMessage).
type SendOption interface {
	applySend(p *tg.SendMessageParams)
}

// An EditOption changes what Edit sends (the parameters of
// editMessageText).
type EditOption interface {
	applyEdit(p *tg.EditMessageTextParams)
}

// An Option works with Send, Reply and Edit alike.
type Option interface {
	SendOption
	EditOption
}

// SendFunc is a SendOption that sets any field of the sendMessage
// parameters:
//
//	c.Send(text, router.SendFunc(func(p *tg.SendMessageParams) { p.LinkPreviewOptions = &tg.LinkPreviewOptions{IsDisabled: true} }))
type SendFunc func(p *tg.SendMessageParams)

func (f SendFunc) applySend(p *tg.SendMessageParams) { f(p) }

// EditFunc is an EditOption that sets any field of the editMessageText
// parameters.
type EditFunc func(p *tg.EditMessageTextParams)

func (f EditFunc) applyEdit(p *tg.EditMessageTextParams) { f(p) }

// WithMarkup attaches m to the message sent or edited: an inline keyboard
// (InlineKeyboard), a reply keyboard (ReplyKeyboard), RemoveKeyboard or
// ForceReply for Send and Reply; an inline keyboard only for Edit (another
// kind makes Edit fail with ErrNotInline). nil attaches none, which for
// Edit removes the keyboard the message had.
func WithMarkup(m tg.ReplyMarkup) Option { return markup{m} }

type markup struct{ m tg.ReplyMarkup }

// none reports whether m is nil or a nil pointer (which would be sent as
// null).
func (o markup) none() bool {
	switch v := o.m.(type) {
	case nil:
		return true
	case *tg.InlineKeyboardMarkup:
		return v == nil
	case *tg.ReplyKeyboardMarkup:
		return v == nil
	case *tg.ReplyKeyboardRemove:
		return v == nil
	case *tg.ForceReply:
		return v == nil
	case *tg.UnknownReplyMarkup:
		return v == nil
	}
	return false
}

// inline reports whether Edit can send o.
func (o markup) inline() bool {
	_, ok := o.m.(*tg.InlineKeyboardMarkup)
	return ok || o.none()
}

func (o markup) applySend(p *tg.SendMessageParams) {
	p.ReplyMarkup = nil
	if !o.none() {
		p.ReplyMarkup = o.m
	}
}

func (o markup) applyEdit(p *tg.EditMessageTextParams) {
	kb, _ := o.m.(*tg.InlineKeyboardMarkup)
	p.ReplyMarkup = kb
}

// WithParseMode sets the parse mode of the text sent or edited
// (format.HTML, format.MarkdownV2; "" for plain text), overriding the
// DefaultParseMode.
func WithParseMode(mode string) Option { return parseMode(mode) }

type parseMode string

func (o parseMode) applySend(p *tg.SendMessageParams)     { p.ParseMode = string(o) }
func (o parseMode) applyEdit(p *tg.EditMessageTextParams) { p.ParseMode = string(o) }

// explicitMode reports whether opts hold a WithParseMode.
func explicitMode[O any](opts []O) bool {
	for _, o := range opts {
		if _, ok := any(o).(parseMode); ok {
			return true
		}
	}
	return false
}

// WithEntities formats the text sent or edited with entities (from a
// format.Builder) instead of a parse mode; the DefaultParseMode does not
// apply then.
//
//	var b format.Builder
//	b.Bold(name).Plain(", your order is ready.")
//	return c.Send(b.String(), router.WithEntities(b.Entities()))
func WithEntities(entities []tg.MessageEntity) Option { return withEntities(entities) }

type withEntities []tg.MessageEntity

func (o withEntities) applySend(p *tg.SendMessageParams)     { p.Entities = o }
func (o withEntities) applyEdit(p *tg.EditMessageTextParams) { p.Entities = o }

// DefaultParseMode returns middleware that makes Send, Reply and Edit
// format their text with mode (format.HTML or format.MarkdownV2) unless
// given WithParseMode or WithEntities, or a SendFunc/EditFunc set one:
//
//	r.Use(router.DefaultParseMode(format.HTML))
//	… c.Reply("<b>Done</b>, " + format.EscapeHTML(name))
//
// It applies to the Context helpers only; calls made on c.Client directly
// send what their parameters say. Text that comes from users must then be
// escaped (format.EscapeHTML, format.EscapeMarkdownV2) — or sent with
// WithParseMode("").
func DefaultParseMode(mode string) Middleware {
	return func(next Handler) Handler {
		return func(c *Context) error {
			c2 := *c
			c2.parseMode = &mode
			return next(&c2)
		}
	}
}

// ParseMode returns the default parse mode DefaultParseMode set ("" if
// none).
func (c *Context) ParseMode() string {
	if c.parseMode == nil {
		return ""
	}
	return *c.parseMode
}

// Sent makes Send, Reply or Edit store the message Telegram returns in *m
// (nil when the call failed, or for an edited inline message), for
// handlers that need its id later:
//
//	var m *tg.Message
//	if err := c.Send("Working…", router.Sent(&m)); err != nil {
//		return err
//	}
func Sent(m **tg.Message) Option { return sent{m} }

type sent struct{ m **tg.Message }

func (sent) applySend(*tg.SendMessageParams)     {}
func (sent) applyEdit(*tg.EditMessageTextParams) {}

// wantsSent reports whether a Sent option among opts keeps the message:
// without one, the answer's result is not decoded at all.
func wantsSent[O any](opts []O) bool {
	for _, o := range opts {
		if s, ok := any(o).(sent); ok && s.m != nil {
			return true
		}
	}
	return false
}

// keep stores m through every Sent option among opts.
func keep[O any](opts []O, m *tg.Message) {
	for _, o := range opts {
		if s, ok := any(o).(sent); ok && s.m != nil {
			*s.m = m
		}
	}
}
