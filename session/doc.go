// Package session keeps per-chat and per-user state for bots: a small Store
// interface with context, TTL and explicit errors, typed access with
// generics, a bounded in-memory store (the default), and a conversation
// helper (a step machine per chat with a timeout). A file-backed store on
// bbolt is in the package session/boltstore, so that only bots that use it
// link bbolt.
//
// # What it owns
//
// Session owns the bytes it stores and nothing else: values are copied in
// and out of the stores, never aliased. A store's size is bounded (Memory:
// at most WithMaxEntries entries and WithMaxBytes bytes of keys and values,
// LRU eviction, oversized keys and values refused with ErrTooLarge) and
// every value may carry a TTL; expired values read as absent and are purged lazily on access or by
// the store's Janitor, which its owner (the bot's Run) starts and stops with
// a context. A store reports damaged data (boltstore: a damaged or
// foreign file) with an error matching ErrCorrupt, never with a crash.
//
// # What it never does
//
// No constructor starts a goroutine; session never sleeps, never retries
// and never depends on the bot runtime's types: keys are strings built from
// chat and user ids by a KeyFunc, and the handler side is a plain function
// (Session.Do) or an explicit Scope.
//
// # Wiring into a handler chain
//
// A runtime wraps its handlers with Session.Do, which loads the value,
// hands it to the handler through the context and saves it afterwards if
// it changed:
//
//	sess := session.New[Cart](store)
//	wrap := func(next Handler) Handler {
//		return func(ctx context.Context, u *Update) error {
//			key := sess.Key(u.ChatID(), u.UserID())
//			if key == "" { // no chat and no user: nothing to key by
//				return next(ctx, u)
//			}
//			return sess.Do(ctx, key, func(ctx context.Context, _ *Cart) error {
//				return next(ctx, u)
//			})
//		}
//	}
//
// and a handler reads and changes its value with From:
//
//	cart, ok := session.From[Cart](ctx) // *Cart, saved after the handler returns nil
//
// The dispatcher runs one handler per chat at a time, so a session is
// never changed by two handlers at once; the stores are nevertheless safe
// for concurrent use by any number of goroutines.
package session
