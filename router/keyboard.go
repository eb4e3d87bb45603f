package router

import "github.com/tidygram/tidygram/tg"

// InlineKeyboard returns an inline keyboard of rows of buttons (built with
// Row, CallbackButton and URLButton). The markup fits every method that
// takes one: the ReplyMarkup of tg.SendMessageParams,
// tg.EditMessageTextParams, tg.SendPhotoParams, …, or Send, Reply and Edit
// through WithMarkup:
//
//	kb := router.InlineKeyboard(
//		router.Row(router.CallbackButton("Yes", "yes"), router.CallbackButton("No", "no")),
//	)
//	return c.Reply("Sure?", router.WithMarkup(kb))
func InlineKeyboard(rows ...[]tg.InlineKeyboardButton) *tg.InlineKeyboardMarkup {
	return &tg.InlineKeyboardMarkup{InlineKeyboard: rows}
}

// Row returns one row of an inline keyboard.
func Row(buttons ...tg.InlineKeyboardButton) []tg.InlineKeyboardButton { return buttons }

// CallbackButton returns an inline button that sends data back as a
// callback query (see OnCallback).
func CallbackButton(text, data string) tg.InlineKeyboardButton {
	return tg.InlineKeyboardButton{Text: text, CallbackData: data}
}

// URLButton returns an inline button that opens url.
func URLButton(text, url string) tg.InlineKeyboardButton {
	return tg.InlineKeyboardButton{Text: text, URL: url}
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
//	c.Send(text, router.SendFunc(func(p *tg.SendMessageParams) { p.ParseMode = "HTML" }))
type SendFunc func(p *tg.SendMessageParams)

func (f SendFunc) applySend(p *tg.SendMessageParams) { f(p) }

// EditFunc is an EditOption that sets any field of the editMessageText
// parameters.
type EditFunc func(p *tg.EditMessageTextParams)

func (f EditFunc) applyEdit(p *tg.EditMessageTextParams) { f(p) }

// WithMarkup attaches the inline keyboard kb to the message sent or edited
// (nil: none, which for Edit removes the keyboard the message had). Reply
// keyboards and the other markups fit sendMessage only: set them with
// SendFunc.
func WithMarkup(kb *tg.InlineKeyboardMarkup) Option { return markup{kb} }

type markup struct{ kb *tg.InlineKeyboardMarkup }

func (o markup) applySend(p *tg.SendMessageParams) {
	p.ReplyMarkup = nil // a nil *InlineKeyboardMarkup in the interface would be sent as null
	if o.kb != nil {
		p.ReplyMarkup = o.kb
	}
}

func (o markup) applyEdit(p *tg.EditMessageTextParams) { p.ReplyMarkup = o.kb }

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
