package session

import (
	"testing"

	"github.com/tidygram/tidygram/session/internal/fakeclock"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a clock that moves only when told to.
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock { return fakeclock.New() }

func key(i int) string { return ChatKey(int64(i)+1, 0) }
