package jetstream

import (
	"os"
	"testing"

	"github.com/tidygram/tidygram/leak/leaktest"
)

// TestMain runs the crash test's child when asked to, and otherwise fails
// the run if any goroutine — the spool's, a server's, a connection's —
// outlives the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	leaktest.Main(m)
}
