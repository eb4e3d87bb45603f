package limit

import "strings"

// Counts reports whether a Bot API method puts a message into a chat and
// therefore counts against Telegram's flood limits: the send methods that
// create a message (sendMessage, sendPhoto, … sendMediaGroup, sendPoll,
// sendInvoice, sendGift, …), forwardMessage(s), copyMessage(s), and the
// edits of a message (editMessage*, stopMessageLiveLocation, stopPoll).
//
// Not counted: sendChatAction, the streaming drafts sendMessageDraft and
// sendRichMessageDraft, sendChatJoinRequestWebApp, getUpdates, every get*
// method, answer* (answerCallbackQuery, answerInlineQuery, …), deletes,
// chat administration and bot settings. A media group counts as one call.
//
// It is the default of WithCounted; the list follows Bot API 10.1.
func Counts(method string) bool {
	switch method {
	case "sendMessage", "sendPhoto", "sendLivePhoto", "sendAudio", "sendDocument",
		"sendVideo", "sendAnimation", "sendVoice", "sendVideoNote", "sendPaidMedia",
		"sendMediaGroup", "sendLocation", "sendVenue", "sendContact", "sendPoll",
		"sendChecklist", "sendDice", "sendSticker", "sendInvoice", "sendGame",
		"sendGift", "sendRichMessage",
		"forwardMessage", "forwardMessages", "copyMessage", "copyMessages",
		"editMessageText", "editMessageCaption", "editMessageMedia",
		"editMessageLiveLocation", "stopMessageLiveLocation", "editMessageChecklist",
		"editMessageReplyMarkup", "stopPoll":
		return true
	}
	return false
}

// Idempotent reports whether calling a method twice has the effect of
// calling it once, so that a call whose outcome is unknown (a timeout
// after the request was written, a 5xx answer) may be repeated: the read
// methods get* (getMe, getChat, getFile, getChatMember, …).
//
// Everything else is treated as not idempotent: sends and edits would be
// repeated; answerCallbackQuery, deleteMessage, setChatTitle and the like
// fail on a second call ("query is too old", "message to delete not
// found", "not modified") although the first one worked. It is the
// default of WithIdempotent.
func Idempotent(method string) bool {
	return strings.HasPrefix(method, "get") && method != "getUpdates"
}

// passThrough reports whether a method bypasses the Control entirely:
// getUpdates is the poller's, which has its own backoff and honours
// retry_after itself; a long poll must never wait behind sends.
func passThrough(method string) bool { return method == "getUpdates" }
