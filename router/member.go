package router

import (
	"github.com/tidygram/tidygram/tg"
)

// Chat-member transitions. Telegram sends chat_member updates (another
// member's status changed; only when the bot is an administrator and asks
// for them: tidygram.WithAllowedUpdates with "chat_member") and
// my_chat_member updates (the bot's own status changed: added to a group,
// promoted, blocked in a private chat). The filters below match either
// kind; And(Kind("my_chat_member"), Joined()) keeps the bot's own.

// Chat member statuses, as Telegram names them.
const (
	StatusCreator       = "creator"
	StatusAdministrator = "administrator"
	StatusMember        = "member"
	StatusRestricted    = "restricted"
	StatusLeft          = "left"
	StatusKicked        = "kicked" // banned
)

// MemberStatus returns the status of m (one of the Status constants), from
// its type: a ChatMember built in code without Status has one too. An
// unknown status is returned as Telegram sent it; nil gives "".
func MemberStatus(m tg.ChatMember) string {
	switch v := m.(type) {
	case *tg.ChatMemberOwner:
		return StatusCreator
	case *tg.ChatMemberAdministrator:
		return StatusAdministrator
	case *tg.ChatMemberMember:
		return StatusMember
	case *tg.ChatMemberRestricted:
		return StatusRestricted
	case *tg.ChatMemberLeft:
		return StatusLeft
	case *tg.ChatMemberBanned:
		return StatusKicked
	case *tg.UnknownChatMember:
		return v.Status
	}
	return ""
}

// IsMember reports whether m is in the chat: its creator, an
// administrator, a member, or a restricted user who is a member.
func IsMember(m tg.ChatMember) bool {
	switch v := m.(type) {
	case *tg.ChatMemberOwner, *tg.ChatMemberAdministrator, *tg.ChatMemberMember:
		return true
	case *tg.ChatMemberRestricted:
		return v.IsMember
	}
	return false
}

// isAdmin reports whether m is the creator or an administrator.
func isAdmin(m tg.ChatMember) bool {
	switch m.(type) {
	case *tg.ChatMemberOwner, *tg.ChatMemberAdministrator:
		return true
	}
	return false
}

// memberUpdate returns the ChatMemberUpdated of a chat_member or
// my_chat_member update.
func memberUpdate(u *tg.Update) *tg.ChatMemberUpdated {
	if u.ChatMember != nil {
		return u.ChatMember
	}
	return u.MyChatMember
}

// MemberChanged matches chat_member and my_chat_member updates for which
// pred, given the old and the new state of the member, returns true.
func MemberChanged(pred func(old, new tg.ChatMember) bool) Filter {
	return func(u *tg.Update) bool {
		m := memberUpdate(u)
		return m != nil && pred(m.OldChatMember, m.NewChatMember)
	}
}

// Joined matches a member joining: not in the chat before (left, banned,
// restricted and not a member), in it now (IsMember). For my_chat_member,
// the bot was added.
func Joined() Filter {
	return MemberChanged(func(old, new tg.ChatMember) bool { return !IsMember(old) && IsMember(new) })
}

// Left matches a member leaving the chat by any way (left, removed or
// banned): in it before, not now. For my_chat_member, the bot was removed
// — or, in a private chat, blocked by the user.
func Left() Filter {
	return MemberChanged(func(old, new tg.ChatMember) bool { return IsMember(old) && !IsMember(new) })
}

// Promoted matches a member becoming an administrator (or the creator).
func Promoted() Filter {
	return MemberChanged(func(old, new tg.ChatMember) bool { return !isAdmin(old) && isAdmin(new) })
}

// Demoted matches an administrator losing their rights (while staying or
// leaving).
func Demoted() Filter {
	return MemberChanged(func(old, new tg.ChatMember) bool { return isAdmin(old) && !isAdmin(new) })
}

// Restricted matches a member being restricted (a status change to
// restricted; a restricted member's new restrictions are not a
// transition).
func Restricted() Filter {
	return MemberChanged(func(old, new tg.ChatMember) bool {
		return MemberStatus(old) != StatusRestricted && MemberStatus(new) == StatusRestricted
	})
}

// Banned matches a member being banned (status kicked). A ban also
// matches Left when the member was in the chat.
func Banned() Filter {
	return MemberChanged(func(old, new tg.ChatMember) bool {
		return MemberStatus(old) != StatusKicked && MemberStatus(new) == StatusKicked
	})
}

// Business updates (Telegram Business: a business account connected the
// bot, which then receives its chats' messages and may answer on the
// account's behalf; Send, Reply and Edit do so for business messages).
// OnText, OnCommand and the message filters match business messages too;
// these filters single them out.

// BusinessMessage matches business_message updates: a new message in a
// chat of a connected business account.
func BusinessMessage() Filter { return Kind(tg.KindBusinessMessage) }

// EditedBusinessMessage matches edited_business_message updates.
func EditedBusinessMessage() Filter { return Kind(tg.KindEditedBusinessMessage) }

// BusinessConnection matches business_connection updates: the bot was
// connected to or disconnected from a business account, or its rights
// changed.
func BusinessConnection() Filter { return Kind(tg.KindBusinessConnection) }

// DeletedBusinessMessages matches deleted_business_messages updates.
func DeletedBusinessMessages() Filter { return Kind(tg.KindDeletedBusinessMessages) }
