package leaktest

import (
	"context"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/leak"
)

// The TestDemo* tests are run by the tests below in a child process of
// this test binary (LEAK_DEMO set); they skip otherwise.
func demo(t *testing.T, mode string) {
	if os.Getenv("LEAK_DEMO") != mode {
		t.Skip("run in a child process by TestCheck* and TestMainReportsLeftovers")
	}
}

// leakyStarted is closed once TestDemoLeaky's goroutines run, so that
// TestDemoClean checks while they are alive.
var leakyStarted = make(chan struct{})

func TestDemoLeaky(t *testing.T) {
	demo(t, "1")
	t.Parallel()
	ctx := Check(t, WithCheckTimeout(300*time.Millisecond))
	never := make(chan struct{})
	// As a handler would: labelled, and starting a goroutine with plain go.
	pprof.Do(ctx, pprof.Labels(leak.LabelHandler, "/start", leak.LabelUpdateID, "42"), func(context.Context) {
		go func() { <-never }()
	})
	go func() { // a plain leak, with the test's label only
		close(leakyStarted)
		<-never
	}()
}

func TestDemoClean(t *testing.T) {
	demo(t, "1")
	t.Parallel()
	ctx := Check(t)
	done := make(chan struct{})
	go func() { defer close(done) }()
	<-done
	go func() { <-ctx.Done() }() // ends when the test ends: not a leak
	select {
	case <-leakyStarted:
	case <-time.After(10 * time.Second):
		t.Error("TestDemoLeaky did not run beside this test")
	}
}

func TestDemoLeftover(t *testing.T) {
	demo(t, "main")
	go func() { select {} }()
}

func TestDemoNoLeftover(t *testing.T) {
	demo(t, "main")
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
}

// runDemo runs this test binary again with LEAK_DEMO=mode.
func runDemo(t *testing.T, mode, run string) (string, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run="+run, "-test.v", "-test.count=1", "-test.parallel=4")
	cmd.Env = append(os.Environ(), "LEAK_DEMO="+mode)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestCheckFailsOnlyTheLeakyParallelTest(t *testing.T) {
	out, code := runDemo(t, "1", "^TestDemo(Leaky|Clean)$")
	if code != 1 {
		t.Fatalf("exit code %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"--- FAIL: TestDemoLeaky",
		"--- PASS: TestDemoClean",
		"leak: 2 goroutine(s) started by TestDemoLeaky still running",
		"handler=/start", "update_id=42", // the handler's labels
		"created by github.com/tidygram/tidygram/leak/leaktest.TestDemoLeaky", // the creation site
		"check_test.go:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "started by TestDemoClean") {
		t.Errorf("the clean test was blamed:\n%s", out)
	}
}

func TestMainReportsLeftovers(t *testing.T) {
	out, code := runDemo(t, "main", "^TestDemoLeftover$")
	if code != 1 || !strings.Contains(out, "leak: 1 goroutine(s) still running") || !strings.Contains(out, "leaktest.TestDemoLeftover") {
		t.Errorf("exit code %d, output:\n%s", code, out)
	}
	out, code = runDemo(t, "main", "^TestDemoNoLeftover$")
	if code != 0 || strings.Contains(out, "leak:") {
		t.Errorf("clean run: exit code %d, output:\n%s", code, out)
	}
}
