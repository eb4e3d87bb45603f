package tgtest

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

type methodID int

const (
	mUnknown methodID = iota
	mGetMe
	mGetUpdates
	mSetWebhook
	mDeleteWebhook
	mGetWebhookInfo
	mSendMessage
	mEditMessageText
	mEditMessageCaption
	mEditMessageReplyMarkup
	mDeleteMessage
	mForwardMessage
	mCopyMessage
	mSendChatAction
	mAnswerCallbackQuery
	mAnswerInlineQuery
	mSetMyCommands
	mGetMyCommands
	mDeleteMyCommands
	mSendPhoto
	mSendDocument
	mSendMediaGroup
	mGetFile
	mGetChat
	mAnswerPreCheckoutQuery
	numMethods
)

type methodInfo struct {
	name string
	fn   func(*Server, *request) (any, error)
}

// methods is the dispatch table, filled once by init (a table literal
// would form an initialisation cycle through callFromWebhook).
var methods [numMethods]methodInfo

// methodByName maps lower-case method names (Bot API methods are
// case-insensitive) to their id. Read-only after init.
var methodByName = map[string]methodID{}

func init() {
	methods = [numMethods]methodInfo{
		mUnknown:                {"unknown", nil},
		mGetMe:                  {"getMe", (*Server).getMe},
		mGetUpdates:             {"getUpdates", (*Server).getUpdates},
		mSetWebhook:             {"setWebhook", (*Server).setWebhook},
		mDeleteWebhook:          {"deleteWebhook", (*Server).deleteWebhook},
		mGetWebhookInfo:         {"getWebhookInfo", (*Server).getWebhookInfo},
		mSendMessage:            {"sendMessage", (*Server).sendMessage},
		mEditMessageText:        {"editMessageText", (*Server).editMessageText},
		mEditMessageCaption:     {"editMessageCaption", (*Server).editMessageCaption},
		mEditMessageReplyMarkup: {"editMessageReplyMarkup", (*Server).editMessageReplyMarkup},
		mDeleteMessage:          {"deleteMessage", (*Server).deleteMessage},
		mForwardMessage:         {"forwardMessage", (*Server).forwardMessage},
		mCopyMessage:            {"copyMessage", (*Server).copyMessage},
		mSendChatAction:         {"sendChatAction", (*Server).sendChatAction},
		mAnswerCallbackQuery:    {"answerCallbackQuery", (*Server).answerCallbackQuery},
		mAnswerInlineQuery:      {"answerInlineQuery", (*Server).answerInlineQuery},
		mSetMyCommands:          {"setMyCommands", (*Server).setMyCommands},
		mGetMyCommands:          {"getMyCommands", (*Server).getMyCommands},
		mDeleteMyCommands:       {"deleteMyCommands", (*Server).deleteMyCommands},
		mSendPhoto:              {"sendPhoto", (*Server).sendPhoto},
		mSendDocument:           {"sendDocument", (*Server).sendDocument},
		mSendMediaGroup:         {"sendMediaGroup", (*Server).sendMediaGroup},
		mGetFile:                {"getFile", (*Server).getFile},
		mGetChat:                {"getChat", (*Server).getChat},
		mAnswerPreCheckoutQuery: {"answerPreCheckoutQuery", (*Server).answerPreCheckoutQuery},
	}
	for id, m := range methods[1:] {
		methodByName[m.name] = methodID(id + 1)
		methodByName[strings.ToLower(m.name)] = methodID(id + 1)
	}
}

func lookupMethod(name string) methodID {
	if id, ok := methodByName[name]; ok {
		return id
	}
	return methodByName[strings.ToLower(name)]
}

// Methods lists the Bot API methods the emulator implements.
func Methods() []string {
	out := make([]string, 0, numMethods-1)
	for _, m := range methods[1:] {
		out = append(out, m.name)
	}
	return out
}

func (s *Server) getMe(*request) (any, error) { return s.bot, nil }

// markupParam is a reply_markup parameter: a JSON object, or a string
// holding one. Only inline keyboards are kept.
type markupParam struct {
	m *ReplyMarkup
}

func (p *markupParam) UnmarshalJSON(b []byte) error {
	b, err := unwrapString(b)
	if err != nil || b == nil {
		return err
	}
	var rm ReplyMarkup
	if err := json.Unmarshal(b, &rm); err != nil {
		return badRequest("can't parse reply keyboard markup JSON object")
	}
	for _, row := range rm.InlineKeyboard {
		for _, btn := range row {
			if btn.Text == "" {
				return badRequest("text buttons are unallowed in the inline keyboard")
			}
			if len(btn.CallbackData) > 64 {
				return badRequest("BUTTON_DATA_INVALID")
			}
		}
	}
	if len(rm.InlineKeyboard) > 0 {
		p.m = &rm
	}
	return nil
}

type replyParams struct {
	MessageID                intParam `json:"message_id"`
	ChatID                   chatRef  `json:"chat_id"`
	AllowSendingWithoutReply bool     `json:"allow_sending_without_reply"`
}

// sendBase holds the parameters every send method shares.
type sendBase struct {
	ChatID           chatRef      `json:"chat_id"`
	ParseMode        strParam     `json:"parse_mode"`
	ReplyMarkup      markupParam  `json:"reply_markup"`
	ReplyParameters  *replyParams `json:"reply_parameters"`
	ReplyToMessageID intParam     `json:"reply_to_message_id"`
	// BusinessConnectionID sends on behalf of a business account (see
	// SimUser.ConnectBusiness).
	BusinessConnectionID strParam `json:"business_connection_id"`
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func checkParseMode(pm strParam) error {
	switch strings.ToLower(string(pm)) {
	case "", "html", "markdown", "markdownv2":
		return nil
	}
	return badRequest("unsupported parse_mode")
}

func checkEntities(text string, ents []MessageEntity) error {
	if len(ents) == 0 {
		return nil
	}
	n := utf16Len(text)
	for _, e := range ents {
		if e.Type == "" || e.Offset < 0 || e.Length <= 0 || e.Offset+e.Length > n {
			return badRequest("can't parse entities: entity out of text bounds or without type")
		}
	}
	return nil
}

// target resolves the chat a method writes to.
func (s *Server) target(ref chatRef) (*chatState, error) {
	if !ref.Set {
		return nil, errChatIDEmpty
	}
	c := s.chats.resolve(ref)
	if c == nil {
		return nil, errChatNotFound
	}
	c.mu.Lock()
	blocked, in := c.blocked, c.botIn
	c.mu.Unlock()
	if blocked {
		return nil, errBlocked
	}
	if !in {
		return nil, errNotMember
	}
	return c, nil
}

// prepare checks what every send does before storing a message: the chat,
// parse_mode, the message replied to and flood control (n messages).
func (s *Server) prepare(b *sendBase, n int) (*chatState, *Message, error) {
	c, err := s.targetFor(string(b.BusinessConnectionID), b.ChatID)
	if err != nil {
		return nil, nil, err
	}
	if err := checkParseMode(b.ParseMode); err != nil {
		return nil, nil, err
	}
	var reply *Message
	replyTo, allowMissing := int64(b.ReplyToMessageID), false
	if rp := b.ReplyParameters; rp != nil {
		replyTo, allowMissing = int64(rp.MessageID), rp.AllowSendingWithoutReply
		if rp.ChatID.Set {
			rc := s.chats.resolve(rp.ChatID)
			if rc == nil {
				return nil, nil, errChatNotFound
			}
			if rc != c {
				replyTo = 0 // replies to other chats are shown as external replies; not modelled
			}
		}
	}
	if replyTo != 0 {
		reply = c.message(replyTo)
		if reply == nil && !allowMissing {
			return nil, nil, errReplyNotFound
		}
		if reply != nil && reply.ReplyToMessage != nil {
			r := *reply
			r.ReplyToMessage = nil // Telegram does not nest replies
			reply = &r
		}
	}
	if err := s.flood.allow(c.chat.ID, c.group, n); err != nil {
		s.c.flood429.Add(1)
		return nil, nil, err
	}
	return c, reply, nil
}

// storeBot stores a message the bot sends to c (in a business chat: on
// behalf of the account's owner).
func (s *Server) storeBot(c *chatState, m *Message) *Message {
	m.From = s.botFrom
	if c.biz != nil {
		owner := c.biz.conn.User
		m.From, m.SenderBusinessBot, m.BusinessConnectionID = &owner, s.botFrom, c.biz.conn.ID
	}
	m.Chat = c.chat
	if c.add(m, true) {
		s.c.historyDropped.Add(1)
	}
	return m
}

type sendMessageParams struct {
	sendBase
	Text     strParam        `json:"text"`
	Entities []MessageEntity `json:"entities"`
}

func (s *Server) sendMessage(rq *request) (any, error) {
	var p sendMessageParams
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(p.Text)) == "" {
		return nil, errTextEmpty
	}
	if utf16Len(string(p.Text)) > 4096 {
		return nil, errTextTooLong
	}
	if err := checkEntities(string(p.Text), p.Entities); err != nil {
		return nil, err
	}
	c, reply, err := s.prepare(&p.sendBase, 1)
	if err != nil {
		return nil, err
	}
	return s.storeBot(c, &Message{Text: string(p.Text), Entities: p.Entities, ReplyMarkup: p.ReplyMarkup.m, ReplyToMessage: reply}), nil
}

type captionParams struct {
	Caption         *strParam       `json:"caption"`
	CaptionEntities []MessageEntity `json:"caption_entities"`
}

func (cp *captionParams) check() error {
	if cp.Caption == nil {
		return nil
	}
	if utf16Len(string(*cp.Caption)) > 1024 {
		return badRequest("message caption is too long")
	}
	return checkEntities(string(*cp.Caption), cp.CaptionEntities)
}

func (cp *captionParams) apply(m *Message) {
	if cp.Caption != nil {
		m.Caption, m.CaptionEntities = string(*cp.Caption), cp.CaptionEntities
	}
}

// sendFile serves sendPhoto and sendDocument.
func (s *Server) sendFile(rq *request, field string, photo bool) (any, error) {
	var p struct {
		sendBase
		captionParams
		Photo    strParam `json:"photo"`
		Document strParam `json:"document"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	if err := p.captionParams.check(); err != nil {
		return nil, err
	}
	v := p.Document
	if photo {
		v = p.Photo
	}
	f, err := rq.inputFile(field, string(v))
	if err != nil {
		return nil, err
	}
	m := &Message{ReplyMarkup: p.ReplyMarkup.m}
	if err := attachFile(m, f, photo); err != nil {
		return nil, err
	}
	p.captionParams.apply(m)
	c, reply, err := s.prepare(&p.sendBase, 1)
	if err != nil {
		return nil, err
	}
	m.ReplyToMessage = reply
	rq.commitUsed()
	return s.storeBot(c, m), nil
}

func attachFile(m *Message, f *storedFile, photo bool) error {
	if !photo {
		m.Document = f.document()
		return nil
	}
	if f.imageErr != nil {
		return badRequest("IMAGE_PROCESS_FAILED")
	}
	m.Photo = f.photo()
	return nil
}

func (s *Server) sendPhoto(rq *request) (any, error)    { return s.sendFile(rq, "photo", true) }
func (s *Server) sendDocument(rq *request) (any, error) { return s.sendFile(rq, "document", false) }

type inputMedia struct {
	Type  string   `json:"type"`
	Media strParam `json:"media"`
	captionParams
}

func (s *Server) sendMediaGroup(rq *request) (any, error) {
	var p struct {
		sendBase
		Media []inputMedia `json:"media"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	if len(p.Media) < 2 || len(p.Media) > 10 {
		return nil, badRequest("wrong number of media in the album: must include 2-10 items")
	}
	msgs := make([]*Message, len(p.Media))
	for i := range p.Media {
		im := &p.Media[i]
		if im.Type != "photo" && im.Type != "document" {
			return nil, badRequest("unsupported media type " + strconv.Quote(im.Type) + " in the album")
		}
		if err := im.check(); err != nil {
			return nil, err
		}
		f, err := rq.inputFile("media", string(im.Media))
		if err != nil {
			return nil, err
		}
		m := &Message{}
		if err := attachFile(m, f, im.Type == "photo"); err != nil {
			return nil, err
		}
		im.apply(m)
		msgs[i] = m
	}
	p.ReplyMarkup.m = nil // albums carry no keyboard
	c, reply, err := s.prepare(&p.sendBase, len(msgs))
	if err != nil {
		return nil, err
	}
	group := strconv.FormatInt(s.misc.nextID(), 10) + "0000"
	rq.commitUsed()
	for _, m := range msgs {
		m.MediaGroupID, m.ReplyToMessage = group, reply
		s.storeBot(c, m)
	}
	return msgs, nil
}

type editParams struct {
	ChatID          chatRef     `json:"chat_id"`
	MessageID       intParam    `json:"message_id"`
	InlineMessageID strParam    `json:"inline_message_id"`
	ReplyMarkup     markupParam `json:"reply_markup"`
	// BusinessConnectionID edits a message sent on behalf of a business
	// account.
	BusinessConnectionID strParam `json:"business_connection_id"`
}

// edit finds the bot's message an edit method names and replaces it with
// change's result; change reports whether anything differs.
func (s *Server) edit(p *editParams, change func(m *Message) error) (any, error) {
	if p.InlineMessageID != "" {
		return nil, badRequest("MESSAGE_ID_INVALID")
	}
	c, err := s.targetFor(string(p.BusinessConnectionID), p.ChatID)
	if err != nil {
		return nil, err
	}
	return c.edit(int64(p.MessageID), errEditNotFound, func(old *Message) (*Message, error) {
		if !s.sentByBot(old) {
			return nil, errCantEdit
		}
		m := *old
		m.ReplyMarkup = p.ReplyMarkup.m
		if err := change(&m); err != nil {
			return nil, err
		}
		if reflect.DeepEqual(&m, old) {
			return nil, errNotModified
		}
		m.EditDate = time.Now().Unix()
		return &m, nil
	})
}

// decodeEdit decodes the message address and markup of an edit method,
// and its own parameters into into (if not nil).
func decodeEdit(rq *request, into any) (*editParams, error) {
	var p editParams
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	if into != nil {
		if err := rq.decode(into); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

func (s *Server) editMessageText(rq *request) (any, error) {
	var t struct {
		Text      strParam        `json:"text"`
		Entities  []MessageEntity `json:"entities"`
		ParseMode strParam        `json:"parse_mode"`
	}
	p, err := decodeEdit(rq, &t)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(t.Text)) == "" {
		return nil, errTextEmpty
	}
	if err := checkParseMode(t.ParseMode); err != nil {
		return nil, err
	}
	if err := checkEntities(string(t.Text), t.Entities); err != nil {
		return nil, err
	}
	return s.edit(p, func(m *Message) error {
		if m.Text == "" {
			return badRequest("there is no text in the message to edit")
		}
		m.Text, m.Entities = string(t.Text), t.Entities
		return nil
	})
}

func (s *Server) editMessageCaption(rq *request) (any, error) {
	var t captionParams
	p, err := decodeEdit(rq, &t)
	if err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return s.edit(p, func(m *Message) error {
		if m.Photo == nil && m.Document == nil {
			return badRequest("there is no caption in the message to edit")
		}
		m.Caption, m.CaptionEntities = "", nil
		t.apply(m)
		return nil
	})
}

func (s *Server) editMessageReplyMarkup(rq *request) (any, error) {
	p, err := decodeEdit(rq, nil)
	if err != nil {
		return nil, err
	}
	return s.edit(p, func(*Message) error { return nil })
}

func (s *Server) deleteMessage(rq *request) (any, error) {
	var p struct {
		ChatID    chatRef  `json:"chat_id"`
		MessageID intParam `json:"message_id"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	c, err := s.target(p.ChatID)
	if err != nil {
		return nil, err
	}
	if !c.remove(int64(p.MessageID)) {
		return nil, errDeleteNotFound
	}
	return true, nil
}

type copyParams struct {
	sendBase
	captionParams
	FromChatID chatRef  `json:"from_chat_id"`
	MessageID  intParam `json:"message_id"`
}

// source finds the message forwardMessage or copyMessage reads.
func (s *Server) source(p *copyParams, notFound error) (*Message, error) {
	if !p.FromChatID.Set {
		return nil, badRequest("from_chat_id is empty")
	}
	fc := s.chats.resolve(p.FromChatID)
	if fc == nil {
		return nil, errChatNotFound
	}
	src := fc.message(int64(p.MessageID))
	if src == nil {
		return nil, notFound
	}
	if src.Text == "" && src.Photo == nil && src.Document == nil {
		return nil, badRequest("message can't be copied")
	}
	return src, nil
}

func contentOf(src *Message) *Message {
	return &Message{Text: src.Text, Entities: src.Entities, Photo: src.Photo, Document: src.Document,
		Caption: src.Caption, CaptionEntities: src.CaptionEntities}
}

func (s *Server) forwardMessage(rq *request) (any, error) {
	var p copyParams
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	src, err := s.source(&p, errForwardNotFound)
	if err != nil {
		return nil, err
	}
	p.ReplyParameters, p.ReplyToMessageID = nil, 0
	c, _, err := s.prepare(&p.sendBase, 1)
	if err != nil {
		return nil, err
	}
	m := contentOf(src)
	m.ForwardOrigin = &MessageOrigin{Type: "user", Date: src.Date, SenderUser: src.From}
	return s.storeBot(c, m), nil
}

func (s *Server) copyMessage(rq *request) (any, error) {
	var p copyParams
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	src, err := s.source(&p, errCopyNotFound)
	if err != nil {
		return nil, err
	}
	if err := p.captionParams.check(); err != nil {
		return nil, err
	}
	c, reply, err := s.prepare(&p.sendBase, 1)
	if err != nil {
		return nil, err
	}
	m := contentOf(src)
	if m.Text == "" {
		p.captionParams.apply(m)
	}
	m.ReplyMarkup, m.ReplyToMessage = p.ReplyMarkup.m, reply
	return MessageID{MessageID: s.storeBot(c, m).MessageID}, nil
}

var chatActions = map[string]bool{
	"typing": true, "upload_photo": true, "record_video": true, "upload_video": true,
	"record_voice": true, "upload_voice": true, "upload_document": true, "choose_sticker": true,
	"find_location": true, "record_video_note": true, "upload_video_note": true,
}

func (s *Server) sendChatAction(rq *request) (any, error) {
	var p struct {
		ChatID chatRef  `json:"chat_id"`
		Action strParam `json:"action"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	c, err := s.target(p.ChatID)
	if err != nil {
		return nil, err
	}
	if !chatActions[string(p.Action)] {
		return nil, badRequest("wrong parameter action in request")
	}
	c.mu.Lock()
	c.action = string(p.Action)
	c.mu.Unlock()
	return true, nil
}

// ChatFullInfo is the answer of getChat (the fields the emulator knows).
type ChatFullInfo struct {
	Chat
	AccentColorID    int `json:"accent_color_id"`
	MaxReactionCount int `json:"max_reaction_count"`
}

func (s *Server) getChat(rq *request) (any, error) {
	var p struct {
		ChatID chatRef `json:"chat_id"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	if !p.ChatID.Set {
		return nil, errChatIDEmpty
	}
	c := s.chats.resolve(p.ChatID)
	if c == nil {
		return nil, errChatNotFound
	}
	return ChatFullInfo{Chat: c.chat, MaxReactionCount: 11}, nil
}
