package session

import (
	"errors"
	"fmt"
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

// OptionError reports an option value a store constructor cannot use
// (NewMemory, OpenBolt). Invalid values are never clamped or replaced by
// a default: OpenBolt returns the error, and a Memory built with them
// returns it from Err and from every operation.
type OptionError struct {
	Option string // the option, e.g. "WithMaxEntries"
	Value  any    // the value given
	Reason string // what it must be
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("session: %s(%v): %s", e.Option, e.Value, e.Reason)
}

// ErrCorrupt is matched (errors.Is) by every *CorruptError.
var ErrCorrupt = errors.New("session: store file is corrupt")

// CorruptError reports a Bolt store file that is damaged or is not a
// bbolt file, or a stored value that is damaged. errors.Is(err,
// ErrCorrupt) is true; Unwrap returns the cause, if any: a bbolt error
// (bbolt's ErrInvalid, ErrChecksum, ErrVersionMismatch) when the meta pages
// are bad, or the recovered panic or memory fault (a runtime.Error) when
// bbolt failed on a file damaged after it was opened.
type CorruptError struct {
	Path   string // the store's file
	Page   int64  // the page found damaged, or -1 if not one page
	Key    string // the key whose stored value is damaged, if that is all
	Reason string // what is wrong
	Err    error  // the cause, or nil
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("session: bolt store %s is corrupt: %s", e.Path, e.Reason)
	if e.Key != "" {
		s = fmt.Sprintf("session: bolt store %s: value of %q is corrupt: %s", e.Path, e.Key, e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// panicError carries a recovered panic value as an error.
type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("bbolt panicked: %v", p.v) }

// Unwrap returns the panic value if it is an error (a runtime.Error for a
// memory fault).
func (p panicError) Unwrap() error {
	err, _ := p.v.(error)
	return err
}
