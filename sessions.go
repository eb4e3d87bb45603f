package tidygram

import (
	"context"
	"time"

	"github.com/tidygram/tidygram/session"
)

// Sessions returns middleware that loads the update's session value before
// the handler and saves it after the handler returned nil (a handler error
// discards the changes). The key comes from the session's key function
// (chat, user or both); updates with neither are handled without a session.
// Handlers read and change the value with session.From[T](c).
//
// The dispatcher runs one handler per chat at a time, so a chat-keyed
// session is never changed by two handlers at once.
func Sessions[T any](s *session.Session[T]) Middleware {
	return func(next Handler) Handler {
		return func(c *Context) error {
			var chatID, userID int64
			if ch := c.Chat(); ch != nil {
				chatID = ch.ID
			}
			if u := c.Sender(); u != nil {
				userID = u.ID
			}
			key := s.Key(chatID, userID)
			if key == "" {
				return next(c)
			}
			return s.Do(c, key, func(ctx context.Context, _ *T) error {
				return next(c.WithContext(ctx))
			})
		}
	}
}

// Service is long-running work a Bot owns for the length of Run: a session
// store's janitor, the ops server, a watchdog. Run starts it labelled with
// its name, cancels its context at stop (after the handlers drained) and
// waits for it. A Service that returns an error before the stop ends Run
// with that error.
type Service struct {
	Name string
	Run  func(ctx context.Context) error
}

// WithService adds a Service to the bot.
func WithService(name string, run func(ctx context.Context) error) Option {
	return func(c *config) error {
		if name == "" || run == nil {
			return optErr("WithService", "a service needs a name and a Run function")
		}
		c.services = append(c.services, Service{Name: name, Run: run})
		return nil
	}
}

// Janitor is a store with a purge loop (session.Memory, boltstore.Store).
type Janitor interface {
	Janitor(ctx context.Context, every time.Duration) error
}

// WithJanitor makes Run own the purge loop of a session store: it runs
// every interval (0: the store's default) while the bot runs. When the
// store has a Len method (session.Memory, boltstore.Store), its size is
// reported to the observers (ops exports it as tidygram_session_entries).
func WithJanitor(store Janitor, every time.Duration) Option {
	return func(c *config) error {
		if store == nil || every < 0 {
			return optErr("WithJanitor", "a store and an interval ≥ 0 (0: the store's default)")
		}
		if l, ok := store.(interface{ Len() int }); ok {
			c.sessionLen = l.Len
		}
		return WithService("session-janitor", func(ctx context.Context) error { return store.Janitor(ctx, every) })(c)
	}
}
