package leak

import "fmt"

// OptionError is the error of NewWatchdog and NewSurvivors for an option
// value they cannot use. Invalid values are never clamped or replaced by
// a default.
type OptionError struct {
	Option string // the option, e.g. "WithWindow"
	Value  any    // the value given
	Reason string // what it must be
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("leak: %s(%v): %s", e.Option, e.Value, e.Reason)
}

func optErr(option string, value any, reason string) error {
	return &OptionError{Option: option, Value: value, Reason: reason}
}
