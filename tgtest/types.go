package tgtest

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The wire types below are the small subset of Bot API objects the emulator
// produces and consumes, with the JSON names of botapi/api.json. They are
// defined here, not taken from package tg, so that the emulator stays an
// independent reference: a bug in tg's generated types cannot hide itself by
// being present on both sides of the wire.

// User is a Telegram user or bot (Bot API type User).
type User struct {
	ID                      int64  `json:"id"`
	IsBot                   bool   `json:"is_bot"`
	FirstName               string `json:"first_name"`
	LastName                string `json:"last_name,omitempty"`
	Username                string `json:"username,omitempty"`
	LanguageCode            string `json:"language_code,omitempty"`
	CanJoinGroups           bool   `json:"can_join_groups,omitempty"`
	CanReadAllGroupMessages bool   `json:"can_read_all_group_messages,omitempty"`
	SupportsInlineQueries   bool   `json:"supports_inline_queries,omitempty"`
}

// Chat is a private chat, group or supergroup (Bot API type Chat).
type Chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
}

// MessageEntity is a special entity in a text (Bot API type MessageEntity).
// Offset and Length count UTF-16 code units.
type MessageEntity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	URL    string `json:"url,omitempty"`
}

// PhotoSize is one size of a photo (Bot API type PhotoSize).
type PhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FileSize     int64  `json:"file_size,omitempty"`
}

// Document is a general file (Bot API type Document).
type Document struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileSize     int64  `json:"file_size,omitempty"`
}

// InlineKeyboardButton is one button of an inline keyboard.
type InlineKeyboardButton struct {
	Text                         string  `json:"text"`
	URL                          string  `json:"url,omitempty"`
	CallbackData                 string  `json:"callback_data,omitempty"`
	SwitchInlineQuery            *string `json:"switch_inline_query,omitempty"`
	SwitchInlineQueryCurrentChat *string `json:"switch_inline_query_current_chat,omitempty"`
}

// ReplyMarkup holds the reply_markup of a message. Only inline keyboards are
// attached to sent messages by Telegram; the other keyboard kinds are
// accepted in requests and not kept.
type ReplyMarkup struct {
	InlineKeyboard [][]InlineKeyboardButton `json:"inline_keyboard,omitempty"`
}

// MessageOrigin describes where a forwarded message came from.
type MessageOrigin struct {
	Type       string `json:"type"`
	Date       int64  `json:"date"`
	SenderUser *User  `json:"sender_user,omitempty"`
	Chat       *Chat  `json:"chat,omitempty"`
	MessageID  int64  `json:"message_id,omitempty"`
}

// Message is a message in a chat (Bot API type Message).
type Message struct {
	MessageID       int64           `json:"message_id"`
	From            *User           `json:"from,omitempty"`
	Date            int64           `json:"date"`
	Chat            Chat            `json:"chat"`
	ForwardOrigin   *MessageOrigin  `json:"forward_origin,omitempty"`
	ReplyToMessage  *Message        `json:"reply_to_message,omitempty"`
	EditDate        int64           `json:"edit_date,omitempty"`
	MediaGroupID    string          `json:"media_group_id,omitempty"`
	Text            string          `json:"text,omitempty"`
	Entities        []MessageEntity `json:"entities,omitempty"`
	Document        *Document       `json:"document,omitempty"`
	Photo           []PhotoSize     `json:"photo,omitempty"`
	Caption         string          `json:"caption,omitempty"`
	CaptionEntities []MessageEntity `json:"caption_entities,omitempty"`
	NewChatMembers  []User          `json:"new_chat_members,omitempty"`
	LeftChatMember  *User           `json:"left_chat_member,omitempty"`
	ReplyMarkup     *ReplyMarkup    `json:"reply_markup,omitempty"`
	// BusinessConnectionID is set on messages of a business account's
	// chats (received as business_message, or sent by the bot on the
	// account's behalf).
	BusinessConnectionID string `json:"business_connection_id,omitempty"`
	// SenderBusinessBot is the bot, on messages it sent on behalf of a
	// business account.
	SenderBusinessBot *User       `json:"sender_business_bot,omitempty"`
	WebAppData        *WebAppData `json:"web_app_data,omitempty"`
}

// Buttons returns every button of the message's inline keyboard, row by row.
func (m *Message) Buttons() []InlineKeyboardButton {
	if m == nil || m.ReplyMarkup == nil {
		return nil
	}
	var out []InlineKeyboardButton
	for _, row := range m.ReplyMarkup.InlineKeyboard {
		out = append(out, row...)
	}
	return out
}

// CallbackQuery is an inline button press (Bot API type CallbackQuery).
type CallbackQuery struct {
	ID           string   `json:"id"`
	From         User     `json:"from"`
	Message      *Message `json:"message,omitempty"`
	ChatInstance string   `json:"chat_instance"`
	Data         string   `json:"data,omitempty"`
}

// InlineQuery is an incoming inline query (Bot API type InlineQuery).
type InlineQuery struct {
	ID       string `json:"id"`
	From     User   `json:"from"`
	Query    string `json:"query"`
	Offset   string `json:"offset"`
	ChatType string `json:"chat_type,omitempty"`
}

// ChatMember is the status of a user in a chat. Telegram has one type per
// status (ChatMemberMember, ChatMemberLeft, …); they share these fields.
type ChatMember struct {
	Status string `json:"status"`
	User   User   `json:"user"`
}

// ChatMemberUpdated is a change of a chat member's status.
type ChatMemberUpdated struct {
	Chat          Chat       `json:"chat"`
	From          User       `json:"from"`
	Date          int64      `json:"date"`
	OldChatMember ChatMember `json:"old_chat_member"`
	NewChatMember ChatMember `json:"new_chat_member"`
}

// Update is an incoming update (Bot API type Update). Updates the emulator
// does not model can be pushed as raw JSON with Server.PushRaw.
type Update struct {
	UpdateID      int64              `json:"update_id"`
	Message       *Message           `json:"message,omitempty"`
	EditedMessage *Message           `json:"edited_message,omitempty"`
	CallbackQuery *CallbackQuery     `json:"callback_query,omitempty"`
	InlineQuery   *InlineQuery       `json:"inline_query,omitempty"`
	MyChatMember  *ChatMemberUpdated `json:"my_chat_member,omitempty"`
	ChatMember    *ChatMemberUpdated `json:"chat_member,omitempty"`

	BusinessConnection    *BusinessConnection `json:"business_connection,omitempty"`
	BusinessMessage       *Message            `json:"business_message,omitempty"`
	EditedBusinessMessage *Message            `json:"edited_business_message,omitempty"`
	PreCheckoutQuery      *PreCheckoutQuery   `json:"pre_checkout_query,omitempty"`
}

// WebAppData is data a Web App sent to the bot from a keyboard button
// (Bot API type WebAppData).
type WebAppData struct {
	Data       string `json:"data"`
	ButtonText string `json:"button_text"`
}

// BusinessConnection is the bot's connection to a business account (Bot
// API type BusinessConnection).
type BusinessConnection struct {
	ID         string             `json:"id"`
	User       User               `json:"user"`
	UserChatID int64              `json:"user_chat_id"`
	Date       int64              `json:"date"`
	Rights     *BusinessBotRights `json:"rights,omitempty"`
	IsEnabled  bool               `json:"is_enabled"`
}

// BusinessBotRights are the rights of a business bot; the emulator sets
// only CanReply.
type BusinessBotRights struct {
	CanReply bool `json:"can_reply,omitempty"`
}

// PreCheckoutQuery is the last step of a payment (Bot API type
// PreCheckoutQuery).
type PreCheckoutQuery struct {
	ID             string `json:"id"`
	From           User   `json:"from"`
	Currency       string `json:"currency"`
	TotalAmount    int64  `json:"total_amount"`
	InvoicePayload string `json:"invoice_payload"`
}

// File is a file ready to be downloaded (Bot API type File).
type File struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileSize     int64  `json:"file_size,omitempty"`
	FilePath     string `json:"file_path,omitempty"`
}

// WebhookInfo is the answer of getWebhookInfo.
type WebhookInfo struct {
	URL                  string   `json:"url"`
	HasCustomCertificate bool     `json:"has_custom_certificate"`
	PendingUpdateCount   int      `json:"pending_update_count"`
	LastErrorDate        int64    `json:"last_error_date,omitempty"`
	LastErrorMessage     string   `json:"last_error_message,omitempty"`
	MaxConnections       int      `json:"max_connections,omitempty"`
	AllowedUpdates       []string `json:"allowed_updates,omitempty"`
}

// BotCommand is one entry of the bot's command menu.
type BotCommand struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

// ResponseParameters explains why a request failed.
type ResponseParameters struct {
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
	RetryAfter      int   `json:"retry_after,omitempty"`
}

// MessageID is the answer of copyMessage.
type MessageID struct {
	MessageID int64 `json:"message_id"`
}

// chatRef is a chat_id parameter: an integer, or a string holding an
// integer or an @username.
type chatRef struct {
	ID       int64
	Username string
	Set      bool
}

func (c *chatRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	c.Set = true
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		c.ID = n
		return nil
	}
	if len(s) > 1 && s[0] == '@' {
		c.Username = s[1:]
		return nil
	}
	return errBadChatID
}

// intParam is an integer parameter that, as on Telegram, may also be given
// as a string.
type intParam int64

func (p *intParam) UnmarshalJSON(b []byte) error {
	b, err := unwrapString(b)
	if err != nil || b == nil {
		return err
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return errBadInteger
	}
	*p = intParam(n)
	return nil
}

// unwrapString returns the text of b if it is a JSON string, else b; nil
// (and no error) for null or nothing.
func unwrapString(b []byte) ([]byte, error) {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, err
		}
		b = []byte(s)
	}
	if string(b) == "null" || len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

// strParam is a string parameter that also accepts a bare JSON scalar (a
// form value "123" arrives as the JSON number 123).
type strParam string

func (p *strParam) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = strParam(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	*p = strParam(b)
	return nil
}

// listParam is a list of strings, also accepted as a string holding the
// JSON list (as form values and some clients send it).
type listParam []string

func (p *listParam) UnmarshalJSON(b []byte) error {
	b, err := unwrapString(b)
	if err != nil || b == nil {
		return err
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return badRequest("can't parse allowed_updates JSON array")
	}
	*p = l
	return nil
}
