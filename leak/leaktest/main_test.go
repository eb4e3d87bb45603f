package leaktest

import (
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain checks the package's tests for leaks with goleak; LEAK_DEMO=main
// runs them under Main instead (see TestMainReportsLeftovers).
func TestMain(m *testing.M) {
	if os.Getenv("LEAK_DEMO") == "main" {
		Main(m, WithCheckTimeout(200*time.Millisecond))
	}
	goleak.VerifyTestMain(m)
}
