package tidygram_test

import (
	"testing"

	"github.com/tidygram/tidygram/leak/leaktest"
)

// TestMain fails the run if any goroutine (an idle HTTP connection too)
// outlives the tests, naming its owner.
func TestMain(m *testing.M) { leaktest.Main(m) }
