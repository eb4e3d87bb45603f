// Package wait lets a test wait for a condition with a deadline. It is the
// module's one "eventually" helper: bottest.Eventually forwards to Until,
// and the packages bottest imports (tg, tgtest, leak, dispatch,
// internal/album …), whose in-package tests cannot import bottest, use it
// directly, as do the jetstream module's tests.
//
// It imports only the standard library, and only test files and bottest
// import it: no package a program links pulls in "testing" through it.
//
// # What it owns
//
// Waiting in a test for a condition with a deadline: every wait ends, with
// the condition true or reported false, within its timeout (or its
// context's deadline) plus one call of the condition. A condition that
// holds at once returns at once: a wait never stands in for a fixed sleep.
//
// # What it never does
//
// It keeps no package state and leaves no goroutine behind: the condition
// runs on the caller's goroutine, between short sleeps, and nothing runs
// after a wait returns. It never waits without a deadline.
package wait

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Poll is the longest sleep between two calls of a condition. The first
// sleeps are shorter (1 ms, doubling), so a condition that soon holds is
// seen soon.
const Poll = 5 * time.Millisecond

// Until calls cond until it returns true, and fails tb with Fatalf (naming
// what it waited for) if it has not within timeout. Like tb.Fatal, it must
// be called from the test's goroutine.
func Until(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !For(timeout, cond) {
		tb.Fatalf("not within %v: %s", timeout, what)
	}
}

// For calls cond until it returns true or timeout has passed, and reports
// whether it returned true: for a wait whose failure the caller reports
// itself, with what it saw instead, or from a goroutine other than the
// test's.
func For(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for sleep := time.Millisecond; !cond(); sleep = min(2*sleep, Poll) {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(sleep, time.Until(deadline)))
	}
	return true
}

// ErrNoDeadline is Context's answer for a context without a deadline.
var ErrNoDeadline = errors.New("wait: context without a deadline")

// Context calls cond until it returns true (nil) or ctx ends (ctx.Err()).
// ctx must have a deadline: without one Context returns ErrNoDeadline at
// once, without calling cond.
func Context(ctx context.Context, cond func() bool) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ErrNoDeadline
	}
	if For(time.Until(deadline), func() bool { return ctx.Err() != nil || cond() }) && ctx.Err() == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded
}
