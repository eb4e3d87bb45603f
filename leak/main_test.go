package leak

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks the package's tests for leaks with goleak.
func TestMain(m *testing.M) {
	// TestProvenLeakReported (GOEXPERIMENT=goroutineleakprofile) leaks one
	// goroutine for real: nothing can reach it to end it.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/tidygram/tidygram/leak.leakSender.func1"))
}
