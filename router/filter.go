package router

import (
	"regexp"
	"slices"
	"strings"

	"github.com/tidygram/tidygram/tg"
)

// Filter reports whether a route applies to an update. Filters must be
// fast and free of side effects: they run for every update, in order, on
// the goroutine that dispatches it.
type Filter func(u *tg.Update) bool

// All matches every update.
func All() Filter { return func(*tg.Update) bool { return true } }

// And matches when every filter matches (no filter: always).
func And(fs ...Filter) Filter {
	return func(u *tg.Update) bool {
		for _, f := range fs {
			if !f(u) {
				return false
			}
		}
		return true
	}
}

// Or matches when any filter matches (no filter: never).
func Or(fs ...Filter) Filter {
	return func(u *tg.Update) bool {
		for _, f := range fs {
			if f(u) {
				return true
			}
		}
		return false
	}
}

// Not inverts f.
func Not(f Filter) Filter { return func(u *tg.Update) bool { return !f(u) } }

// Kind matches updates of the given kinds, named as the Update's JSON
// fields: "message", "edited_message", "channel_post", "callback_query",
// "inline_query", "my_chat_member", "chat_member", "message_reaction", …
func Kind(kinds ...string) Filter {
	return func(u *tg.Update) bool { return slices.Contains(kinds, u.Kind()) }
}

// ChatType matches updates whose chat has one of the types ("private",
// "group", "supergroup", "channel").
func ChatType(types ...string) Filter {
	return func(u *tg.Update) bool {
		c := u.Chat()
		return c != nil && slices.Contains(types, c.Type)
	}
}

// editedMessage returns the message of an edited_message,
// edited_channel_post or edited_business_message update.
func editedMessage(u *tg.Update) *tg.Message {
	switch {
	case u.EditedMessage != nil:
		return u.EditedMessage
	case u.EditedChannelPost != nil:
		return u.EditedChannelPost
	}
	return u.EditedBusinessMessage
}

// MessageWhere matches new messages (messages, channel posts and business
// messages — the messages Text, Command and the content filters see) for
// which pred returns true:
//
//	r.On(router.MessageWhere(func(m *tg.Message) bool { return m.Dice != nil && m.Dice.Value == 6 }), h)
func MessageWhere(pred func(m *tg.Message) bool) Filter {
	return func(u *tg.Update) bool {
		m := u.NewMessage()
		return m != nil && pred(m)
	}
}

// EditedWhere matches edited messages (edited_message,
// edited_channel_post, edited_business_message) for which pred returns
// true:
//
//	r.On(router.EditedWhere(func(m *tg.Message) bool { return router.ContentType(m) == "photo" }), h)
func EditedWhere(pred func(m *tg.Message) bool) Filter {
	return func(u *tg.Update) bool {
		m := editedMessage(u)
		return m != nil && pred(m)
	}
}

// Text matches new messages, channel posts and business messages with
// text.
func Text() Filter {
	return func(u *tg.Update) bool {
		m := u.NewMessage()
		return m != nil && m.Text != ""
	}
}

// TextEquals matches new messages whose text is exactly s.
func TextEquals(s string) Filter {
	return func(u *tg.Update) bool {
		m := u.NewMessage()
		return m != nil && m.Text == s
	}
}

// TextPrefix matches new messages whose text starts with prefix.
func TextPrefix(prefix string) Filter {
	return func(u *tg.Update) bool {
		m := u.NewMessage()
		return m != nil && m.Text != "" && strings.HasPrefix(m.Text, prefix)
	}
}

// TextMatches matches new messages whose text matches re.
func TextMatches(re *regexp.Regexp) Filter {
	return func(u *tg.Update) bool {
		m := u.NewMessage()
		return m != nil && m.Text != "" && re.MatchString(m.Text)
	}
}

// Command matches the command /name at the start of the text of a new
// message, channel post or business message, addressed to any bot
// ("/start@otherbot" too: the runtime filters commands addressed to other
// bots before routing). name is given without its leading slash and
// compared case-insensitively: Telegram's clients treat /Start, /START and
// /start as the same command (they highlight and complete each of them,
// and the bot's command menu sends them in lower case), so a bot answers
// them alike. Commands in captions are not matched.
func Command(name string) Filter {
	name = strings.TrimPrefix(name, "/")
	return func(u *tg.Update) bool {
		m := u.NewMessage()
		if m == nil || len(m.Text) < 2 || m.Text[0] != '/' {
			return false
		}
		cmd, _, _, ok := ParseCommand(m.Text)
		return ok && strings.EqualFold(cmd, name)
	}
}

// AnyCommand matches every command message.
func AnyCommand() Filter {
	return func(u *tg.Update) bool {
		m := u.NewMessage()
		if m == nil {
			return false
		}
		_, _, _, ok := ParseCommand(m.Text)
		return ok
	}
}

// ParseCommand splits "/name@bot args" into its parts. ok is false when
// text is not a command. A command is at most 32 characters of letters,
// digits and underscores.
func ParseCommand(text string) (name, bot, args string, ok bool) {
	if len(text) < 2 || text[0] != '/' {
		return "", "", "", false
	}
	head := text[1:]
	if i := strings.IndexAny(head, " \n\t"); i >= 0 {
		head, args = head[:i], head[i+1:]
	}
	name, bot, _ = strings.Cut(head, "@")
	if name == "" || len(name) > 32 {
		return "", "", "", false
	}
	for _, r := range name {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", "", "", false
		}
	}
	return name, bot, strings.TrimSpace(args), true
}

// CallbackData matches callback queries whose data is exactly data.
func CallbackData(data string) Filter {
	return func(u *tg.Update) bool {
		return u.CallbackQuery != nil && u.CallbackQuery.Data == data
	}
}

// CallbackPrefix matches callback queries whose data starts with prefix
// (an empty prefix matches every callback query).
func CallbackPrefix(prefix string) Filter {
	return func(u *tg.Update) bool {
		return u.CallbackQuery != nil && strings.HasPrefix(u.CallbackQuery.Data, prefix)
	}
}
