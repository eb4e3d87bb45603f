// Package storekit holds what the session stores share: the check every
// operation starts with, the expiry arithmetic and the janitor loop. It
// lets the bbolt store live in a package of its own (session/boltstore)
// without copying them.
package storekit

import (
	"context"
	"errors"
	"time"
)

// ErrNoKey is session.ErrNoKey: an operation with an empty key.
var ErrNoKey = errors.New("session: empty key")

// CheckOp rejects a done context and an empty key.
func CheckOp(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" {
		return ErrNoKey
	}
	return nil
}

// Expiry returns the absolute expiry in Unix nanoseconds for a ttl set at
// now; 0 means never.
func Expiry(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now.Add(ttl).UnixNano()
}

// Expired reports whether an entry with the given expiry is gone at now.
func Expired(exp int64, now time.Time) bool {
	return exp != 0 && now.UnixNano() >= exp
}

// RunJanitor calls purge every interval (fallback if every <= 0) until ctx
// ends, then returns nil; it returns purge's error, unless ctx ended
// meanwhile. It is the body of the stores' Janitor methods.
func RunJanitor(ctx context.Context, every, fallback time.Duration, purge func(context.Context) (int, error)) error {
	if every <= 0 {
		every = fallback
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
