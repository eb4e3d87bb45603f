package boltstore

import (
	"fmt"

	"github.com/tidygram/tidygram/session"
)

// CorruptError reports a store file that is damaged or is not a bbolt
// file, or a stored value that is damaged. errors.Is(err,
// session.ErrCorrupt) is true; Unwrap returns the cause, if any: a bbolt
// error (bbolt's ErrInvalid, ErrChecksum, ErrVersionMismatch) when the
// meta pages are bad, or the recovered panic or memory fault (a
// runtime.Error) when bbolt failed on a file damaged after it was opened.
type CorruptError struct {
	Path   string // the store's file
	Page   int64  // the page found damaged, or -1 if not one page
	Key    string // the key whose stored value is damaged, if that is all
	Reason string // what is wrong
	Err    error  // the cause, or nil
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("boltstore: %s is corrupt: %s", e.Path, e.Reason)
	if e.Key != "" {
		s = fmt.Sprintf("boltstore: %s: value of %q is corrupt: %s", e.Path, e.Key, e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, session.ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == session.ErrCorrupt }

// panicError carries a recovered panic value as an error.
type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("bbolt panicked: %v", p.v) }

// Unwrap returns the panic value if it is an error (a runtime.Error for a
// memory fault).
func (p panicError) Unwrap() error {
	err, _ := p.v.(error)
	return err
}
