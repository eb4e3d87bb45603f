package router

import (
	"regexp"
	"slices"
	"strings"

	"github.com/tidygram/tidygram/tg"
)

// The filters of this file look at new messages, channel posts and
// business messages, as Text and Command do; use EditedWhere for edits.

// ContentType names what a message carries, as aiogram's content_type
// does: "text", "animation", "audio", "document", "live_photo",
// "paid_media", "photo", "sticker", "story", "video", "video_note",
// "voice", "checklist", "contact", "dice", "game", "poll", "venue",
// "location", "invoice", "successful_payment", "new_chat_members",
// "left_chat_member", "pinned_message", "web_app_data", "users_shared",
// "chat_shared", "write_access_allowed", or "" for anything else.
// Telegram sets document on animations, photo on live photos and
// location on venues too; ContentType gives the specific kind.
func ContentType(m *tg.Message) string {
	switch {
	case m == nil:
		return ""
	case m.Text != "":
		return "text"
	case m.Animation != nil:
		return "animation"
	case m.Audio != nil:
		return "audio"
	case m.Document != nil:
		return "document"
	case m.LivePhoto != nil:
		return "live_photo"
	case m.PaidMedia != nil:
		return "paid_media"
	case len(m.Photo) > 0:
		return "photo"
	case m.Sticker != nil:
		return "sticker"
	case m.Story != nil:
		return "story"
	case m.Video != nil:
		return "video"
	case m.VideoNote != nil:
		return "video_note"
	case m.Voice != nil:
		return "voice"
	case m.Checklist != nil:
		return "checklist"
	case m.Contact != nil:
		return "contact"
	case m.Dice != nil:
		return "dice"
	case m.Game != nil:
		return "game"
	case m.Poll != nil:
		return "poll"
	case m.Venue != nil:
		return "venue"
	case m.Location != nil:
		return "location"
	case m.Invoice != nil:
		return "invoice"
	case m.SuccessfulPayment != nil:
		return "successful_payment"
	case len(m.NewChatMembers) > 0:
		return "new_chat_members"
	case m.LeftChatMember != nil:
		return "left_chat_member"
	case m.PinnedMessage != nil:
		return "pinned_message"
	case m.WebAppData != nil:
		return "web_app_data"
	case m.UsersShared != nil:
		return "users_shared"
	case m.ChatShared != nil:
		return "chat_shared"
	case m.WriteAccessAllowed != nil:
		return "write_access_allowed"
	}
	return ""
}

// Content matches new messages whose ContentType is one of types:
// Content("photo", "video") for either.
func Content(types ...string) Filter {
	return MessageWhere(func(m *tg.Message) bool { return slices.Contains(types, ContentType(m)) })
}

// Photo matches new messages with a photo (live photos too: Telegram sets
// their photo field).
func Photo() Filter { return MessageWhere(func(m *tg.Message) bool { return len(m.Photo) > 0 }) }

// Video matches new messages with a video.
func Video() Filter { return MessageWhere(func(m *tg.Message) bool { return m.Video != nil }) }

// Animation matches new messages with an animation (GIF or silent video).
func Animation() Filter { return MessageWhere(func(m *tg.Message) bool { return m.Animation != nil }) }

// Document matches new messages with a general file. Animations, for
// which Telegram sets document too, are left to Animation.
func Document() Filter {
	return MessageWhere(func(m *tg.Message) bool { return m.Document != nil && m.Animation == nil })
}

// Audio matches new messages with an audio file (music; see Voice).
func Audio() Filter { return MessageWhere(func(m *tg.Message) bool { return m.Audio != nil }) }

// Voice matches new messages with a voice message.
func Voice() Filter { return MessageWhere(func(m *tg.Message) bool { return m.Voice != nil }) }

// VideoNote matches new messages with a video note (a round video).
func VideoNote() Filter { return MessageWhere(func(m *tg.Message) bool { return m.VideoNote != nil }) }

// Sticker matches new messages with a sticker.
func Sticker() Filter { return MessageWhere(func(m *tg.Message) bool { return m.Sticker != nil }) }

// Location matches new messages with a location that is not a venue
// (Telegram sets location on venues too: see Venue). Live location
// updates come as edits (EditedWhere).
func Location() Filter {
	return MessageWhere(func(m *tg.Message) bool { return m.Location != nil && m.Venue == nil })
}

// Venue matches new messages with a venue.
func Venue() Filter { return MessageWhere(func(m *tg.Message) bool { return m.Venue != nil }) }

// Contact matches new messages with a shared contact (ContactButton sends
// one).
func Contact() Filter { return MessageWhere(func(m *tg.Message) bool { return m.Contact != nil }) }

// Poll matches new messages with a poll.
func Poll() Filter { return MessageWhere(func(m *tg.Message) bool { return m.Poll != nil }) }

// Dice matches new messages with a dice of one of emoji ("🎲", "🎯", "🏀",
// "⚽", "🎳", "🎰"), or of any emoji when none is given.
func Dice(emoji ...string) Filter {
	return MessageWhere(func(m *tg.Message) bool {
		return m.Dice != nil && (len(emoji) == 0 || slices.Contains(emoji, m.Dice.Emoji))
	})
}

// Caption matches new messages with a caption (media with text under it).
func Caption() Filter { return MessageWhere(func(m *tg.Message) bool { return m.Caption != "" }) }

// CaptionPrefix matches new messages whose caption starts with prefix.
func CaptionPrefix(prefix string) Filter {
	return MessageWhere(func(m *tg.Message) bool { return m.Caption != "" && strings.HasPrefix(m.Caption, prefix) })
}

// CaptionMatches matches new messages whose caption matches re.
func CaptionMatches(re *regexp.Regexp) Filter {
	return MessageWhere(func(m *tg.Message) bool { return m.Caption != "" && re.MatchString(m.Caption) })
}

// Entity matches new messages whose text or caption holds an entity of one
// of types: "mention", "hashtag", "cashtag", "bot_command", "url", "email",
// "phone_number", "bold", "italic", "underline", "strikethrough",
// "spoiler", "blockquote", "expandable_blockquote", "code", "pre",
// "text_link", "text_mention", "custom_emoji", "date_time".
// Context.Entities returns their text.
func Entity(types ...string) Filter {
	return MessageWhere(func(m *tg.Message) bool {
		for _, es := range [2][]tg.MessageEntity{m.Entities, m.CaptionEntities} {
			for _, e := range es {
				if slices.Contains(types, e.Type) {
					return true
				}
			}
		}
		return false
	})
}

// Forwarded matches new messages forwarded from elsewhere (they have a
// forward origin: a user, a hidden user, a chat or a channel).
func Forwarded() Filter {
	return MessageWhere(func(m *tg.Message) bool { return m.ForwardOrigin != nil })
}

// ReplyTo matches new messages that reply to a message of the same chat.
func ReplyTo() Filter {
	return MessageWhere(func(m *tg.Message) bool { return m.ReplyToMessage != nil })
}

// ReplyToUser matches new messages that reply to a message sent by one of
// the users ids. A reply to the bot itself is ReplyToUser(botID), with the
// id getMe returns — the number before the colon of the bot's token.
func ReplyToUser(ids ...int64) Filter {
	return MessageWhere(func(m *tg.Message) bool {
		r := m.ReplyToMessage
		return r != nil && r.From != nil && slices.Contains(ids, r.From.ID)
	})
}

// ViaBot matches new messages sent through an inline bot: one of usernames
// (without "@", compared case-insensitively), or any when none is given.
func ViaBot(usernames ...string) Filter {
	return MessageWhere(func(m *tg.Message) bool {
		if m.ViaBot == nil {
			return false
		}
		if len(usernames) == 0 {
			return true
		}
		for _, name := range usernames {
			if strings.EqualFold(strings.TrimPrefix(name, "@"), m.ViaBot.Username) {
				return true
			}
		}
		return false
	})
}
