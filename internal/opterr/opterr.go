// Package opterr is the error of an option value a constructor refuses: one
// type, which the packages that validate their options when they are built
// (limit, leak, session) name OptionError. It owns no state and never
// clamps or replaces a value: it only describes the refusal.
package opterr

import "fmt"

// Error reports an option value a constructor cannot use.
type Error struct {
	Package string // the refusing package, e.g. "limit"
	Option  string // the option, e.g. "WithRetries"
	Value   any    // the value given
	Reason  string // what it must be
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s(%v): %s", e.Package, e.Option, e.Value, e.Reason)
}

// Check returns an option of T named option, of package pkg: it refuses
// value with reason when bad, else calls set. It is the one shape of the
// options that validate a single value.
func Check[T any](pkg, option string, value any, bad bool, reason string, set func(*T)) func(*T) error {
	return func(t *T) error {
		if bad {
			return &Error{Package: pkg, Option: option, Value: value, Reason: reason}
		}
		set(t)
		return nil
	}
}
