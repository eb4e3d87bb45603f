package tg

import "strings"

// Sentinels for the Bot API answers a bot meets every day. Match them with
// errors.Is on any error a call returned:
//
//	if errors.Is(err, tg.ErrBotBlocked) { forget(chatID) }
//
// An *APIError matches a sentinel when its Description holds one of the
// sentinel's phrases as Telegram words them (case ignored, so
// "Bad Request: message is not modified: specified new message content…"
// is ErrNotModified). The error code is not compared — Telegram documents
// it as subject to change — except for ErrTooManyRequests (429). The
// sentinels match only *APIError values (answers with ok=false), never
// network or response errors.
var (
	// ErrBotBlocked: 403 "Forbidden: bot was blocked by the user".
	ErrBotBlocked error = apiKind("bot blocked by the user", "bot was blocked by the user")
	// ErrUserDeactivated: 403 "Forbidden: user is deactivated" (a deleted
	// account).
	ErrUserDeactivated error = apiKind("user is deactivated", "user is deactivated")
	// ErrBotKicked: 403 "Forbidden: bot was kicked from the group chat"
	// (supergroup, channel).
	ErrBotKicked error = apiKind("bot kicked from the chat", "bot was kicked from the")
	// ErrNotMember: 403 "Forbidden: bot is not a member of the group chat"
	// (supergroup, channel).
	ErrNotMember error = apiKind("bot is not a member of the chat", "bot is not a member of the")
	// ErrCantInitiate: 403 "Forbidden: bot can't initiate conversation with
	// a user" (the user never started the bot).
	ErrCantInitiate error = apiKind("bot can't initiate a conversation", "bot can't initiate conversation")
	// ErrChatNotFound: 400 "Bad Request: chat not found".
	ErrChatNotFound error = apiKind("chat not found", "chat not found")
	// ErrUserNotFound: 400 "Bad Request: user not found".
	ErrUserNotFound error = apiKind("user not found", "user not found")
	// ErrNotModified: 400 "Bad Request: message is not modified: …" (an edit
	// to the same text and keyboard). Usually safe to ignore.
	ErrNotModified error = apiKind("message is not modified", "message is not modified")
	// ErrMessageToEditNotFound: 400 "Bad Request: message to edit not found".
	ErrMessageToEditNotFound error = apiKind("message to edit not found", "message to edit not found")
	// ErrMessageToDeleteNotFound: 400 "Bad Request: message to delete not
	// found".
	ErrMessageToDeleteNotFound error = apiKind("message to delete not found", "message to delete not found")
	// ErrReplyNotFound: 400 "Bad Request: message to be replied not found"
	// (also worded "message to reply not found").
	ErrReplyNotFound error = apiKind("message to reply to not found", "message to be replied not found", "message to reply not found", "reply message not found")
	// ErrMessageCantBeEdited: 400 "Bad Request: message can't be edited".
	ErrMessageCantBeEdited error = apiKind("message can't be edited", "message can't be edited")
	// ErrMessageCantBeDeleted: 400 "Bad Request: message can't be deleted"
	// (also "… for everyone").
	ErrMessageCantBeDeleted error = apiKind("message can't be deleted", "message can't be deleted")
	// ErrMessageEmpty: 400 "Bad Request: message text is empty".
	ErrMessageEmpty error = apiKind("message text is empty", "message text is empty", "message must be non-empty", "text is empty")
	// ErrMessageTooLong: 400 "Bad Request: message is too long" (over 4096
	// characters).
	ErrMessageTooLong error = apiKind("message is too long", "message is too long")
	// ErrQueryTooOld: 400 "Bad Request: query is too old and response
	// timeout expired or query ID is invalid" (a callback or inline query
	// answered late or twice).
	ErrQueryTooOld error = apiKind("query is too old or invalid", "query is too old", "query id is invalid")
	// ErrNoRights: 400 "Bad Request: not enough rights to …", "have no
	// rights to send a message", "need administrator rights in the channel
	// chat", CHAT_WRITE_FORBIDDEN, CHAT_ADMIN_REQUIRED.
	ErrNoRights error = apiKind("not enough rights in the chat", "not enough rights", "have no rights", "need administrator rights",
		"chat_write_forbidden", "chat_admin_required")
	// ErrWrongFileID: 400 "Bad Request: wrong file identifier/HTTP URL
	// specified", "wrong remote file identifier specified…", "invalid
	// file_id".
	ErrWrongFileID error = apiKind("wrong file identifier", "wrong file identifier", "wrong remote file id", "invalid file_id")
	// ErrGroupMigrated: 400 "Bad Request: group chat was upgraded to a
	// supergroup chat"; APIError.MigrateToChatID holds the new id. Any
	// answer carrying migrate_to_chat_id matches.
	ErrGroupMigrated error = &apiErrorKind{name: "group upgraded to a supergroup", phrases: []string{"group chat was upgraded to a supergroup", "group chat is migrated to a supergroup"}, migrated: true}
	// ErrTooManyRequests: 429 "Too Many Requests: retry after N";
	// APIError.RetryAfter says how long to wait.
	ErrTooManyRequests error = &apiErrorKind{name: "too many requests", code: 429}
)

// apiErrorKind is a class of Bot API answers, matched by an *APIError's
// Is method.
type apiErrorKind struct {
	name     string
	phrases  []string // lower case; any one contained in the description matches
	code     int      // matches this error_code too (0: none)
	migrated bool     // matches an answer with migrate_to_chat_id
}

func apiKind(name string, phrases ...string) *apiErrorKind {
	return &apiErrorKind{name: name, phrases: phrases}
}

func (k *apiErrorKind) Error() string { return "tg: " + k.name }

// Is reports whether e is the kind of answer target names (one of the
// sentinels above: ErrBotBlocked, ErrNotModified, …), so that
// errors.Is(err, tg.ErrBotBlocked) holds for Telegram's "Forbidden: bot
// was blocked by the user".
func (e *APIError) Is(target error) bool {
	k, ok := target.(*apiErrorKind)
	if !ok {
		return false
	}
	if k.code != 0 && e.ErrorCode == k.code || k.migrated && e.MigrateToChatID != 0 {
		return true
	}
	if len(k.phrases) == 0 {
		return false
	}
	desc := strings.ToLower(e.Description)
	for _, p := range k.phrases {
		if strings.Contains(desc, p) {
			return true
		}
	}
	return false
}
