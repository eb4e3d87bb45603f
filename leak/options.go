package leak

import "github.com/tidygram/tidygram/internal/opterr"

// OptionError is the error of NewWatchdog and NewSurvivors for an option
// value they cannot use (Package "leak"). Invalid values are never clamped
// or replaced by a default. limit and session name the same type.
type OptionError = opterr.Error

// option returns an option of T named name: it refuses value with reason
// when bad, else calls set (see opterr.Check).
func option[T any](name string, value any, bad bool, reason string, set func(*T)) func(*T) error {
	return opterr.Check("leak", name, value, bad, reason, set)
}
