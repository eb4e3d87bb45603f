package leak

import "github.com/tidygram/tidygram/internal/opterr"

// OptionError is the error of NewWatchdog and NewSurvivors for an option
// value they cannot use (Package "leak"). Invalid values are never clamped
// or replaced by a default. limit and session name the same type.
type OptionError = opterr.Error

func optErr(option string, value any, reason string) error {
	return &OptionError{Package: "leak", Option: option, Value: value, Reason: reason}
}
