package session

import (
	"errors"
	"fmt"

	"github.com/tidygram/tidygram/internal/opterr"
)

// ErrTooLarge is matched (errors.Is) by every *SizeError: a key or a
// value over a store's limit, refused without storing anything.
var ErrTooLarge = errors.New("session: too large")

// SizeError reports a key or value over a store's limit (Memory:
// WithMaxKeyBytes, WithMaxValueBytes). errors.Is(err, ErrTooLarge) is true.
type SizeError struct {
	What  string // "key" or "value"
	Key   string // the key, cut to its first 64 bytes
	Size  int    // its length in bytes
	Limit int    // the limit it exceeds
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("session: %s of %d bytes for key %q exceeds the limit of %d bytes", e.What, e.Size, e.Key, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *SizeError) Is(target error) bool { return target == ErrTooLarge }

func sizeError(what, key string, size, limit int) *SizeError {
	if len(key) > 64 {
		key = key[:64]
	}
	return &SizeError{What: what, Key: key, Size: size, Limit: limit}
}

// OptionError reports an option value a constructor cannot use
// (NewMemory, boltstore.Open, New, NewConversation). Invalid values are
// never clamped or replaced by a default: boltstore.Open returns the
// error, and a Memory, Session or Conversation built with them returns it
// from Err and from every operation.
// Its Package is "session"; limit and leak name the same type.
type OptionError = opterr.Error

// ErrCorrupt is matched (errors.Is) by the errors a store returns for
// damaged data: a damaged or foreign file, or a stored value that cannot
// be read (boltstore's *CorruptError, which names the file and page).
var ErrCorrupt = errors.New("session: store is corrupt")
