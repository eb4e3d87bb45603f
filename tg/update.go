package tg

// This file holds the hand-written helpers of Update; Kind, the Kind*
// constants and UpdateKinds are generated in update_gen.go.

// Chat returns the chat the update belongs to, or nil when it belongs to
// none (inline queries, shipping and pre-checkout queries, paid media
// purchases, polls, managed bots, callback queries from inline messages,
// kinds added after Bot API 10.1). The dispatcher orders updates per chat by
// it. The result points into u (or, for business_connection, is a new Chat
// holding only the id and type "private" of the chat with the user).
//
// Per kind: the message's chat for the message kinds; chat for
// deleted_business_messages, message_reaction(_count), my_chat_member,
// chat_member, chat_join_request, chat_boost and removed_chat_boost; the
// chat of the message a callback query's button belongs to; the voter chat
// of an anonymous poll answer; the private chat with the user for
// business_connection.
func (u *Update) Chat() *Chat {
	if m := u.message(); m != nil {
		return &m.Chat
	}
	switch {
	case u == nil:
		return nil
	case u.BusinessConnection != nil:
		return &Chat{ID: u.BusinessConnection.UserChatID, Type: "private"}
	case u.DeletedBusinessMessages != nil:
		return &u.DeletedBusinessMessages.Chat
	case u.MessageReaction != nil:
		return &u.MessageReaction.Chat
	case u.MessageReactionCount != nil:
		return &u.MessageReactionCount.Chat
	case u.CallbackQuery != nil:
		switch m := u.CallbackQuery.Message.(type) {
		case *Message:
			return &m.Chat
		case *InaccessibleMessage:
			return &m.Chat
		}
	case u.PollAnswer != nil:
		return u.PollAnswer.VoterChat
	case u.MyChatMember != nil:
		return &u.MyChatMember.Chat
	case u.ChatMember != nil:
		return &u.ChatMember.Chat
	case u.ChatJoinRequest != nil:
		return &u.ChatJoinRequest.Chat
	case u.ChatBoost != nil:
		return &u.ChatBoost.Chat
	case u.RemovedChatBoost != nil:
		return &u.RemovedChatBoost.Chat
	}
	return nil
}

// Sender returns the user who caused the update, or nil when there is none
// or it is hidden (channel posts, anonymous admins and voters, polls,
// reaction counts, deleted business messages, anonymous boosts, kinds added
// after Bot API 10.1). The result points into u.
//
// Per kind: the message's from; the from of queries, chosen inline results,
// paid media purchases, chat member updates and join requests; the user of
// business_connection, message_reaction, poll_answer and managed_bot; the
// booster (the user of the boost source) for chat_boost and
// removed_chat_boost.
func (u *Update) Sender() *User {
	if m := u.message(); m != nil {
		return m.From
	}
	switch {
	case u == nil:
		return nil
	case u.BusinessConnection != nil:
		return &u.BusinessConnection.User
	case u.MessageReaction != nil:
		return u.MessageReaction.User
	case u.InlineQuery != nil:
		return &u.InlineQuery.From
	case u.ChosenInlineResult != nil:
		return &u.ChosenInlineResult.From
	case u.CallbackQuery != nil:
		return &u.CallbackQuery.From
	case u.ShippingQuery != nil:
		return &u.ShippingQuery.From
	case u.PreCheckoutQuery != nil:
		return &u.PreCheckoutQuery.From
	case u.PurchasedPaidMedia != nil:
		return &u.PurchasedPaidMedia.From
	case u.PollAnswer != nil:
		return u.PollAnswer.User
	case u.MyChatMember != nil:
		return &u.MyChatMember.From
	case u.ChatMember != nil:
		return &u.ChatMember.From
	case u.ChatJoinRequest != nil:
		return &u.ChatJoinRequest.From
	case u.ChatBoost != nil:
		return boostUser(u.ChatBoost.Boost.Source)
	case u.RemovedChatBoost != nil:
		return boostUser(u.RemovedChatBoost.Source)
	case u.ManagedBot != nil:
		return &u.ManagedBot.User
	}
	return nil
}

// EffectiveMessage returns the message the update carries, or nil: the
// message of the message kinds (message, edited_message, channel_post,
// edited_channel_post, business_message, edited_business_message,
// guest_message) and, for a callback query, the message with the pressed
// button while it is accessible (a *Message, not an InaccessibleMessage;
// nil for a callback query from an inline message). Every other kind
// carries none. It is nil-safe and points into u.
//
// For the message kinds and callback queries with an accessible message it
// is the message whose chat Chat returns. Sender differs for callback
// queries: it is the user who pressed the button (the query's from), not
// the message's sender (the bot). router.Context.Message, Text, Send,
// Reply and Edit use it.
func (u *Update) EffectiveMessage() *Message {
	if m := u.message(); m != nil {
		return m
	}
	if u != nil && u.CallbackQuery != nil {
		if m, ok := u.CallbackQuery.Message.(*Message); ok {
			return m
		}
	}
	return nil
}

// NewMessage returns the new message of a message, channel_post or
// business_message update, nil for every other kind: edits
// (edited_message, edited_channel_post, edited_business_message), guest
// messages and callback queries included. These are the messages text and
// command routes see and that can be parts of an album (media group). It
// is nil-safe and points into u.
func (u *Update) NewMessage() *Message {
	switch {
	case u == nil:
		return nil
	case u.Message != nil:
		return u.Message
	case u.ChannelPost != nil:
		return u.ChannelPost
	}
	return u.BusinessMessage
}

// message returns the Message of the message kinds (message, edited and
// channel posts, business and guest messages), nil for the others: the
// one list of those kinds, which EffectiveMessage extends with callback
// queries and which Chat and Sender use as is.
func (u *Update) message() *Message {
	if u == nil {
		return nil
	}
	for _, m := range [...]*Message{
		u.Message, u.EditedMessage, u.ChannelPost, u.EditedChannelPost,
		u.BusinessMessage, u.EditedBusinessMessage, u.GuestMessage,
	} {
		if m != nil {
			return m
		}
	}
	return nil
}

// boostUser returns the user of a boost source (nil for a giveaway without
// a winner, or an unknown source).
func boostUser(s ChatBoostSource) *User {
	switch s := s.(type) {
	case *ChatBoostSourcePremium:
		return &s.User
	case *ChatBoostSourceGiftCode:
		return &s.User
	case *ChatBoostSourceGiveaway:
		return s.User
	}
	return nil
}
