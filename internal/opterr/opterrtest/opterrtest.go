// Package opterrtest checks, in tests, what a constructor returns for its
// options: nothing wrong and a value, or an *opterr.Error naming the
// option and no value. It imports testing: only tests import it.
package opterrtest

import (
	"errors"
	"testing"

	"github.com/tidygram/tidygram/internal/opterr"
)

// Check fails tb unless err is nil and the constructor's value is not
// (option ""), or err is an *opterr.Error for option and the value is nil
// (isNil).
func Check(tb testing.TB, err error, isNil bool, option string) {
	tb.Helper()
	var oe *opterr.Error
	switch {
	case option == "" && (err != nil || isNil):
		tb.Fatalf("err = %v, want none", err)
	case option == "":
	case !errors.As(err, &oe) || oe.Option != option || !isNil:
		tb.Fatalf("err = %v, want an *OptionError for %s and no value", err, option)
	}
}

// Must returns v, panicking on err (for tests and benchmarks whose
// options are valid).
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
