package router

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tidygram/tidygram/router/format"
	"github.com/tidygram/tidygram/tg"
)

// Context is what a handler gets: the handler's context.Context (cancelled
// when the handler's timeout or the bot's drain period runs out), the
// update, the client, and helpers for the common replies. A Context is a
// context.Context, so it can be passed to any call that waits:
//
//	c.Client.SendChatAction(c, &tg.SendChatActionParams{...})
//
// A Context belongs to one handler run; it must not be kept after the
// handler returns (start owned background work with Go instead).
type Context struct {
	context.Context
	Update *tg.Update
	Client *tg.Client
	// Route is the name of the route that matched. In a router with outer
	// middleware or When, it is Match's name for the update (see Match)
	// until routing chose the route; the router then sets it, also in the
	// Context the outer middleware was given, so an error handler and
	// outer middleware reading it after next see the route that ran.
	Route string
	// Redelivered reports that the update came from a spool
	// (tidygram.WithSpool) that may have delivered it before — to this
	// instance or to one that stopped or crashed — so this handler may
	// already have run for it, fully or in part. Keep side effects
	// idempotent when it is set (e.g. key them by the update's id).
	// Without a spool it is always false: a redelivery by Telegram (an
	// update not confirmed at a crash) cannot be told apart.
	Redelivered bool

	spawn     Spawner
	rt        *routing // a dynamic run's routing state (shared by copies)
	parseMode *string  // the default parse mode (DefaultParseMode); nil: none
}

// Spawner starts background work for Context.Go: fn on a goroutine of its
// own that the runtime labels (with the labels of handlerCtx, the
// handler's context), tracks and awaits at stop. It returns ErrNotRunning,
// and starts nothing, once the bot is stopping.
type Spawner func(handlerCtx context.Context, fn func(ctx context.Context)) error

// NewContext returns the Context for one handler run. spawn starts owned
// background work for Go; the runtime passes one that labels, tracks and
// awaits it (nil: Go returns ErrNotRunning).
func NewContext(ctx context.Context, u *tg.Update, client *tg.Client, route string, spawn Spawner) *Context {
	return &Context{Context: ctx, Update: u, Client: client, Route: route, spawn: spawn}
}

// WithContext returns a shallow copy of c whose context is ctx, like
// http.Request.WithContext: middleware derives a context (a value, a
// deadline, a span) and passes the copy to next. c itself never changes,
// so contexts already derived from it stay valid.
func (c *Context) WithContext(ctx context.Context) *Context {
	c2 := *c
	c2.Context = ctx
	return &c2
}

// WithValue returns a copy of c whose context carries val under key, for
// middleware handing data to handlers (a user record, a trace span).
func (c *Context) WithValue(key, val any) *Context {
	return c.WithContext(context.WithValue(c.Context, key, val))
}

// ErrNotRunning is returned by Context.Go when no running bot owns the
// handler: the bot has stopped (or the Context was made without one).
var ErrNotRunning = errors.New("router: no running bot owns this handler; background work not started")

// Go starts fn on a goroutine owned by the bot, not by this handler: fn may
// outlive the handler; its ctx is cancelled when the bot stops (once the
// handlers have drained) and the bot's Run waits for it (within the drain
// period). Its goroutine carries this handler's labels. Use it instead of
// a plain go statement for work that outlives the handler. Go returns
// ErrNotRunning, and starts nothing, once the bot is stopping or when the
// Context was not made by a running bot; it never starts an unowned
// goroutine.
func (c *Context) Go(fn func(ctx context.Context)) error {
	if c.spawn == nil {
		return ErrNotRunning
	}
	return c.spawn(c.Context, fn)
}

// Message returns the message the update carries, nil if none (see
// tg.Update.EffectiveMessage): for a callback query, the message with the
// pressed button.
func (c *Context) Message() *tg.Message { return c.Update.EffectiveMessage() }

// Chat returns the chat of the update, nil if it has none.
func (c *Context) Chat() *tg.Chat { return c.Update.Chat() }

// Sender returns the user who caused the update, nil if none.
func (c *Context) Sender() *tg.User { return c.Update.Sender() }

// Text returns the text of the update's message ("" if none; for a
// callback query, the text of the message with the button).
func (c *Context) Text() string {
	if m := c.Message(); m != nil {
		return m.Text
	}
	return ""
}

// Caption returns the caption of the update's message ("" if none).
func (c *Context) Caption() string {
	if m := c.Message(); m != nil {
		return m.Caption
	}
	return ""
}

// Entities returns the text of the entities of the given types in the
// update's message, text and caption, in order: Entities("url") gives the
// links a message holds, Entities("hashtag") its hashtags. No types: every
// entity.
func (c *Context) Entities(types ...string) []string {
	m := c.Message()
	if m == nil {
		return nil
	}
	var out []string
	for _, part := range [2]struct {
		text string
		es   []tg.MessageEntity
	}{{m.Text, m.Entities}, {m.Caption, m.CaptionEntities}} {
		for _, e := range part.es {
			if len(types) == 0 || slices.Contains(types, e.Type) {
				out = append(out, format.EntityText(part.text, e))
			}
		}
	}
	return out
}

// Args returns the arguments after a command ("/start abc" → "abc").
func (c *Context) Args() string {
	_, _, args, _ := ParseCommand(c.Text())
	return args
}

// CallbackData returns the data of a callback query ("" otherwise).
func (c *Context) CallbackData() string {
	if q := c.Update.CallbackQuery; q != nil {
		return q.Data
	}
	return ""
}

// ErrNoChat is returned by helpers that need a chat when the update has none.
var ErrNoChat = errors.New("router: update has no chat to reply to")

// ErrNotInline is returned by Edit given a markup other than an inline
// keyboard: editMessageText takes only those (reply keyboards,
// RemoveKeyboard and ForceReply go with Send and Reply).
var ErrNotInline = errors.New("router: Edit takes an inline keyboard only")

// BusinessConnectionID returns the id of the business connection the
// update's message came through ("" if none): Send, Reply and Edit pass it,
// so that their message goes out on behalf of the business account.
func (c *Context) BusinessConnectionID() string {
	if m := c.Message(); m != nil {
		return m.BusinessConnectionID
	}
	return ""
}

// Send sends text to the update's chat (in the same forum topic and, for a
// business message, through the same business connection: on behalf of
// the business account). opts change the parameters: WithMarkup attaches a
// keyboard, WithParseMode or WithEntities format the text (without them the
// DefaultParseMode applies), SendFunc sets any other field, Sent keeps the
// sent message:
//
//	return c.Send("Pick one:", router.WithMarkup(kb))
func (c *Context) Send(text string, opts ...SendOption) error {
	chat := c.Chat()
	if chat == nil {
		return ErrNoChat
	}
	p := &tg.SendMessageParams{ChatID: tg.ID(chat.ID), Text: text}
	if m := c.Message(); m != nil {
		if m.IsTopicMessage {
			p.MessageThreadID = m.MessageThreadID
		}
		p.BusinessConnectionID = m.BusinessConnectionID
	}
	for _, o := range opts {
		o.applySend(p)
	}
	if p.ParseMode == "" && len(p.Entities) == 0 && c.parseMode != nil && !explicitMode(opts) {
		p.ParseMode = *c.parseMode
	}
	if !wantsSent(opts) {
		// Nobody keeps the message: the answer is checked, not decoded.
		return c.Client.Call(c, "sendMessage", p, nil)
	}
	m, err := c.Client.SendMessage(c, p)
	keep(opts, m)
	return err
}

// Reply is Send as a reply to the update's message (without a message, a
// plain Send).
func (c *Context) Reply(text string, opts ...SendOption) error {
	m := c.Message()
	if m == nil {
		return c.Send(text, opts...)
	}
	reply := SendFunc(func(p *tg.SendMessageParams) { p.ReplyParameters = &tg.ReplyParameters{MessageID: m.MessageID} })
	return c.Send(text, append([]SendOption{reply}, opts...)...)
}

// Edit replaces the text of the message the update is about (the message
// with the pressed button, or an edited message), through the business
// connection the message belongs to, if any. Without WithMarkup the
// message's keyboard is removed; pass WithMarkup(kb) with an inline
// keyboard to keep or replace it (another kind of markup: ErrNotInline).
// EditFunc sets any other field, Sent keeps the edited message (nil for an
// inline message).
func (c *Context) Edit(text string, opts ...EditOption) error {
	p := &tg.EditMessageTextParams{Text: text}
	if q := c.Update.CallbackQuery; q != nil && q.InlineMessageID != "" {
		p.InlineMessageID = q.InlineMessageID
	} else if m := c.Message(); m != nil {
		p.ChatID = tg.ID(m.Chat.ID)
		p.MessageID = m.MessageID
		p.BusinessConnectionID = m.BusinessConnectionID
	} else {
		return ErrNoChat
	}
	for _, o := range opts {
		if mk, ok := o.(markup); ok && !mk.inline() {
			return fmt.Errorf("%w, not %T", ErrNotInline, mk.m)
		}
		o.applyEdit(p)
	}
	if p.ParseMode == "" && len(p.Entities) == 0 && c.parseMode != nil && !explicitMode(opts) {
		p.ParseMode = *c.parseMode
	}
	if !wantsSent(opts) {
		return c.Client.Call(c, "editMessageText", p, nil)
	}
	m, err := c.Client.EditMessageText(c, p)
	keep(opts, m)
	return err
}

// Answer answers the update's callback query (text may be empty: it only
// stops the button's progress indicator). Telegram expects an answer to
// every callback query.
func (c *Context) Answer(text string, opts ...func(*tg.AnswerCallbackQueryParams)) error {
	q := c.Update.CallbackQuery
	if q == nil {
		return errors.New("router: Answer needs a callback query")
	}
	p := &tg.AnswerCallbackQueryParams{CallbackQueryID: q.ID, Text: text}
	for _, o := range opts {
		o(p)
	}
	return c.Client.AnswerCallbackQuery(c, p)
}
