package heap_test

import (
	"runtime"
	"testing"

	"github.com/tidygram/tidygram/leak/leaktest"
)

// TestMain samples every 4 KiB allocated, so that the tests' megabytes
// show in heap profiles with little sampling error, and checks for
// goroutine leaks.
func TestMain(m *testing.M) {
	runtime.MemProfileRate = 4096
	leaktest.Main(m)
}
