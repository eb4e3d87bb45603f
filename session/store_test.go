package session_test

import (
	"testing"
	"time"

	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/session/storetest"
)

// The memory store keeps the contract of every Store.
func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) session.Store {
		return session.NewMemory(session.WithClock(now))
	})
}
