package leaktest_test

import (
	"testing"

	"github.com/tidygram/tidygram/leak/leaktest"
)

// A test checks that the goroutines it started ended with it; parallel
// tests check only their own.
func ExampleCheck() {
	_ = func(t *testing.T) {
		t.Parallel()
		ctx := leaktest.Check(t)
		go func() { <-ctx.Done() }() // ends with the test: fine
	}
}

// A package's tests fail if any goroutine outlives them all.
func ExampleMain() {
	_ = func(m *testing.M) { leaktest.Main(m) } // the body of TestMain
}
