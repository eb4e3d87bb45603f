// Package leaktest fails tests whose goroutines outlive them, naming their
// owners (handler, update, creation site) with the leak package's
// snapshots. It imports testing, so only tests import it: leak itself,
// which bots link, does not.
//
//   - [Check] fails one test (parallel tests too) whose goroutines are
//     still running when it ends;
//   - [Main] fails a test binary that leaves goroutines behind.
//
// It owns nothing past the test it checks: no goroutine of its own outlives
// Check's cleanup or Main, and it keeps no state between tests. It never
// stops a goroutine or waits for one beyond its timeout, and Check never
// blames a test for goroutines it did not start (it looks only at
// goroutines under the test's label).
package leaktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/leak"
)

// DefaultCheckTimeout is how long Check and Main wait for goroutines to end
// before they report them.
const DefaultCheckTimeout = 2 * time.Second

type checkConfig struct {
	timeout   time.Duration
	ignore    []string
	idleConns bool
	snapshot  func() ([]leak.Group, error)
}

// CheckOption configures Check and Main.
type CheckOption func(*checkConfig)

// WithCheckTimeout sets how long to wait for goroutines to end (default 2 s).
func WithCheckTimeout(d time.Duration) CheckOption {
	return func(c *checkConfig) { c.timeout = d }
}

// WithIgnore ignores goroutines whose stack holds a function starting with
// one of prefixes (e.g. "go.opencensus.io/stats/view.(*worker).start").
func WithIgnore(prefixes ...string) CheckOption {
	return func(c *checkConfig) { c.ignore = append(c.ignore, prefixes...) }
}

// WithIdleConns makes Check count idle connections of net/http clients the
// test used (their read and write loops). By default Check leaves them to
// their pool, which may be shared with other tests, and counts only
// connections whose response body was never closed.
func WithIdleConns() CheckOption { return func(c *checkConfig) { c.idleConns = true } }

func newCheckConfig(opts []CheckOption) checkConfig {
	c := checkConfig{timeout: DefaultCheckTimeout, snapshot: leak.Snapshot}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Check fails t if goroutines started by t (after Check, on its goroutine
// or by goroutines it started, at any depth) are still running when t
// ends. It labels t's goroutine with a unique [leak.TestLabel] value, so every
// goroutine started from it inherits the label; at cleanup it waits up to
// the timeout for them to end and reports the rest with their labels
// (handler, update_id, … when they ran in a handler), state and creation
// site. Only t's goroutines are looked at, so tests using t.Parallel
// check independently.
//
// Check returns a context carrying the label (and cancelled with
// t.Context()): code that calls pprof.Do must derive from it, as
// pprof.Do(context.Background(), …) drops the label for its children.
// Check sets GODEBUG tracebacklabels=1 for the process (see
// [leak.EnableTracebackLabels]), for creation sites in the report. It replaces
// the labels t's goroutine had.
func Check(t testing.TB, opts ...CheckOption) context.Context {
	t.Helper()
	cfg := newCheckConfig(opts)
	_ = leak.EnableTracebackLabels()
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := t.Name() + "#" + hex.EncodeToString(b[:])
	ctx := pprof.WithLabels(t.Context(), pprof.Labels(leak.TestLabel, id))
	pprof.SetGoroutineLabels(ctx)
	t.Cleanup(func() {
		// Cleanups run on t's goroutine: drop the label so only the
		// goroutines t started carry it.
		pprof.SetGoroutineLabels(context.Background())
		mine := func(labels map[string]string) bool { return labels[leak.TestLabel] == id }
		if left := cfg.wait(mine); len(left) > 0 {
			t.Errorf("leak: %d goroutine(s) started by %s still running %s after it ended:\n%s",
				leak.Count(left), t.Name(), cfg.timeout, leak.Format(left))
		}
	})
	return ctx
}

// Main runs the tests of m, then, if they passed, fails the run if any
// goroutine is still running (other than the runtime's, the testing
// package's and os/signal's), waiting up to the timeout for them to end.
// It reports them by owner with their creation sites, and exits. Use it
// as the body of TestMain:
//
//	func TestMain(m *testing.M) { leaktest.Main(m) }
//
// Unlike Check it counts idle HTTP client connections too: at the end of
// a test binary every Transport should have been closed.
func Main(m *testing.M, opts ...CheckOption) {
	os.Exit(mainCheck(m.Run(), os.Stderr, append([]CheckOption{WithIdleConns()}, opts...)))
}

// mainCheck is Main after m.Run: the exit code to use.
func mainCheck(code int, w io.Writer, opts []CheckOption) int {
	if code != 0 {
		return code
	}
	_ = leak.EnableTracebackLabels()
	cfg := newCheckConfig(opts)
	if left := cfg.wait(nil); len(left) > 0 {
		fmt.Fprintf(w, "leak: %d goroutine(s) still running %s after the tests ended:\n%s", leak.Count(left), cfg.timeout, leak.Format(left))
		return 1
	}
	return 0
}

// wait polls until no goroutine selected by mine (nil: any but the
// ignored) is left, or the timeout. It returns what is left, with creation
// sites when a labelled debug=2 dump can be had. A goroutine the
// goroutineleak profile proves leaked ends the wait at once.
func (c checkConfig) wait(mine func(map[string]string) bool) []leak.Group {
	deadline := time.Now().Add(c.timeout)
	delay := time.Millisecond
	provenTried := false
	for {
		left, err := c.left(mine)
		if err != nil || len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return c.detail(mine, left)
		}
		if !provenTried {
			provenTried = true
			if proven, err := leak.ProvenLeaks(); err == nil && len(c.keep(proven, mine)) > 0 {
				return c.detail(mine, left)
			}
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func (c checkConfig) left(mine func(map[string]string) bool) ([]leak.Group, error) {
	groups, err := c.snapshot()
	if err != nil {
		return nil, err
	}
	return c.keep(groups, mine), nil
}

// keep selects the groups Check or Main report.
func (c checkConfig) keep(groups []leak.Group, mine func(map[string]string) bool) []leak.Group {
	return leak.Filter(groups, func(g leak.Group) bool {
		if mine != nil && !mine(g.Labels) {
			return false
		}
		if role := g.PoolRole(); role != "" && role != leak.PoolBody && !c.idleConns {
			return false
		}
		return !slices.ContainsFunc(g.Stack, func(f leak.Frame) bool { return c.ignored(f.Func) })
	})
}

// ignored reports functions whose goroutines are not the tests' doing.
func (c checkConfig) ignored(fn string) bool {
	for _, p := range [...]string{
		"runtime/pprof.", // the goroutine taking the snapshot
		"testing.(*M).", "testing.tRunner", "testing.runTests", "testing.(*T).Run", "testing.(*F).",
		"os/signal.", "runtime.ensureSigM", "runtime/trace.",
	} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	for _, p := range c.ignore {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// detail replaces left by the same goroutines from a debug=2 dump
// (creation sites, states) when the dump has labels; else returns left.
func (c checkConfig) detail(mine func(map[string]string) bool, left []leak.Group) []leak.Group {
	if !leak.TracebackLabels() {
		return left
	}
	gs, err := leak.Goroutines()
	if err != nil {
		return left
	}
	detailed := c.keep(leak.GroupGoroutines(gs), mine)
	if leak.Count(detailed) == 0 {
		return left
	}
	return detailed
}
