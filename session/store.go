package session

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/tidygram/tidygram/session/internal/storekit"
)

// ErrNotFound is returned by Store.Get when the key has no value or its
// value has expired.
var ErrNotFound = errors.New("session: not found")

// ErrNoKey is returned when a session is requested with an empty key (a
// KeyFunc returns "" when the ids it needs are zero), and by the stores'
// operations given one.
var ErrNoKey = storekit.ErrNoKey

// Store keeps byte values by string key. Implementations must be safe for
// concurrent use, must copy values in and out (a caller may reuse its slice
// after Set returns and may keep the slice Get returns), and must return
// ctx.Err() (possibly wrapped) without doing the operation when ctx is
// already done, and must reject an empty key with ErrNoKey.
type Store interface {
	// Get returns the value stored under key, or ErrNotFound if there is
	// none or it has expired.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key, replacing any previous value. A ttl > 0
	// makes the value expire ttl after this call; ttl <= 0 stores it
	// without expiry (a bounded store may still evict it).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key. Deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// ErrConflict is matched (errors.Is) when a Versioned store refuses a
// write because the key changed since it was read: another process (an
// instance of the same bot that took the chat over) wrote it first.
var ErrConflict = errors.New("session: changed by another writer since it was read")

// Versioned is implemented by stores that several processes share (the
// JetStream KV store): every value has a version, and a write names the
// version it replaces, so two writers can never silently overwrite each
// other. Session uses it when the store has it: Scope.Commit (and so
// Session.Do) writes only if the key still has the version Open read, and
// otherwise returns an error matching ErrConflict without writing. The
// handler's update then counts as failed (reported, not redelivered):
// nothing retries behind the handler's back, since the handler's other
// side effects have happened once already.
type Versioned interface {
	Store
	// GetVersion is Get with the value's version (never 0). An absent or
	// expired key gives ErrNotFound and version 0.
	GetVersion(ctx context.Context, key string) (value []byte, version uint64, err error)
	// SetIf stores value under key if key's version is still version (0:
	// if key is absent), and returns the new version; otherwise it stores
	// nothing and returns an error matching ErrConflict. ttl as in Set.
	SetIf(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error)
	// DeleteIf removes key if its version is still version; otherwise it
	// returns an error matching ErrConflict. A key already absent with
	// version 0 is not an error.
	DeleteIf(ctx context.Context, key string, version uint64) error
}

// KeyFunc builds a session key from the chat and user of an update. It
// returns "" when an id it needs is zero (an update without a chat or a
// user); Session.Do and Session.Open reject an empty key with ErrNoKey.
type KeyFunc func(chatID, userID int64) string

// ChatKey keys a session by chat: everyone in a group shares it.
// It returns "" if chatID is zero.
func ChatKey(chatID, _ int64) string {
	if chatID == 0 {
		return ""
	}
	return "c" + strconv.FormatInt(chatID, 10)
}

// UserKey keys a session by user, across all chats.
// It returns "" if userID is zero.
func UserKey(_, userID int64) string {
	if userID == 0 {
		return ""
	}
	return "u" + strconv.FormatInt(userID, 10)
}

// ChatUserKey keys a session by user within a chat: each member of a group
// has their own. It returns "" if either id is zero. It is the default
// KeyFunc.
func ChatUserKey(chatID, userID int64) string {
	if chatID == 0 || userID == 0 {
		return ""
	}
	return ChatKey(chatID, 0) + ":" + UserKey(0, userID)
}

// DefaultJanitorInterval is the sweep interval a Janitor uses when given
// an interval <= 0.
const DefaultJanitorInterval = time.Minute
