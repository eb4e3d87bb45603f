package session

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// ErrNotFound is returned by Store.Get when the key has no value or its
// value has expired.
var ErrNotFound = errors.New("session: not found")

// ErrNoKey is returned when a session is requested with an empty key (a
// KeyFunc returns "" when the ids it needs are zero).
var ErrNoKey = errors.New("session: empty key")

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

// expiry returns the absolute expiry in Unix nanoseconds for a ttl set at
// now; 0 means never.
func expiry(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now.Add(ttl).UnixNano()
}

// expired reports whether an entry with the given expiry is gone at now.
func expired(exp int64, now time.Time) bool {
	return exp != 0 && now.UnixNano() >= exp
}

// runJanitor calls purge every interval until ctx ends. It is the body of
// the stores' Janitor methods.
func runJanitor(ctx context.Context, every time.Duration, purge func(context.Context) (int, error)) error {
	if every <= 0 {
		every = DefaultJanitorInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := purge(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// DefaultJanitorInterval is the sweep interval a Janitor uses when given
// an interval <= 0.
const DefaultJanitorInterval = time.Minute

// checkOp rejects a done context and an empty key.
func checkOp(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" {
		return ErrNoKey
	}
	return nil
}
