package natstest_test

import (
	"testing"

	"github.com/tidygram/tidygram/leak/leaktest"
)

// TestMain fails the run if a goroutine — a server's or a connection's —
// outlives the tests.
func TestMain(m *testing.M) { leaktest.Main(m) }
