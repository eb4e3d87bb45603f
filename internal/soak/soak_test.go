package soak

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/demo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// buildLeakyBot builds testdata/leakybot with the go command.
func buildLeakyBot(t *testing.T) string { return buildBot(t, "leakybot") }

// buildBot builds testdata/<name> with the go command.
func buildBot(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/"+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The soak fails an echo bot that never closes its reply bodies: its open
// files, threads or RSS grow. Its replies all arrive, so only the trends
// can catch it.
func TestSoakFailsLeakyBot(t *testing.T) {
	bin := buildLeakyBot(t)
	dir := t.TempDir()
	res, err := Run(context.Background(), Config{
		Command:  bin,
		Duration: 6 * time.Second,
		Load:     demo.LoadConfig{Users: 20, Think: 20 * time.Millisecond, Scenario: demo.ScenarioEcho},
		OutDir:   dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	if res.OK() {
		t.Fatalf("the leaky bot passed:\n%s", res.Summary())
	}
	if res.Load.Missing != 0 || res.Load.Wrong != 0 || res.Load.Correct < 100 {
		t.Fatalf("replies: %d correct, %d wrong, %d missing; want ≥100 correct and no other", res.Load.Correct, res.Load.Wrong, res.Load.Missing)
	}
	failed := map[string]bool{}
	for _, tr := range res.Trends {
		failed[tr.Resource] = tr.Failed
		if (tr.Resource == "goroutines" || tr.Resource == "heap") && tr.Known {
			t.Errorf("%s measured without an ops endpoint", tr.Resource)
		}
	}
	if !failed["fds"] {
		t.Errorf("open files did not fail: %+v", res.Trends)
	}
	checkOutputs(t, res, "**FAIL**", "fds")
	if !strings.HasPrefix(res.Exit, "stopped by SIGTERM") {
		t.Errorf("bot end: %q", res.Exit)
	}
}

// A bot that keeps every message fails the heap trend, and the report
// names the site from its heap profiles, read from its ops server.
func TestSoakNamesGrowingHeapSites(t *testing.T) {
	bin := buildBot(t, "heapbot")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the bot listens there
	t.Setenv("HEAPBOT_OPS_ADDR", addr)
	t.Setenv("TIDYGRAM_OPS_TOKEN", "soak-token")
	res, err := Run(context.Background(), Config{
		Command:    bin,
		OpsURL:     "http://" + addr,
		OpsToken:   "soak-token",
		Duration:   6 * time.Second,
		Load:       demo.LoadConfig{Users: 20, Think: 20 * time.Millisecond, Scenario: demo.ScenarioEcho},
		OutDir:     t.TempDir(),
		Thresholds: Thresholds{RSSMiB: 1e6, FDs: 1e6, Threads: 1e6}, // only the heap is judged here
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	if res.Heap == nil {
		t.Fatalf("no heap comparison: %s", res.HeapNote)
	}
	if rt := res.Heap.Runtime[1]; rt.Source != "metrics" || rt.NumGC < 1 || rt.HeapAlloc <= 0 {
		t.Errorf("runtime figures from /metrics %+v", rt)
	}
	grow := res.Heap.Growing()
	if len(grow) == 0 || grow[0].Func != "main.remember" || grow[0].Handler != "main.remember" || grow[0].Route != "text" || grow[0].Verdict != "leak" {
		t.Fatalf("growing sites %+v", grow)
	}
	if !slices.ContainsFunc(res.Problems, func(p string) bool {
		return strings.HasPrefix(p, "heap grow") && strings.Contains(p, "growing: main.remember")
	}) {
		t.Errorf("problems %q", res.Problems)
	}
	checkOutputs(t, res, "## Heap by allocation site", "leak ", "main.remember")
}

// The demo bot, in process, with the default faults, passes: every reply
// right, nothing lost, no trend over its limit.
func TestSoakPassesDemoBot(t *testing.T) {
	rules, err := demo.ParseFaultsWith("default", DefaultFaults)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := Run(context.Background(), Config{
		InProcess: true,
		Duration:  6 * time.Second,
		Load:      demo.LoadConfig{Users: 20, Think: 100 * time.Millisecond},
		Faults:    rules,
		OutDir:    dir,
		// The race detector's shadow memory grows the RSS of a process
		// it instruments; RSS is then no signal.
		Thresholds: Thresholds{RSSMiB: map[bool]float64{true: 1e6, false: 0}[raceEnabled]},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	if !res.OK() {
		t.Fatalf("the demo bot failed:\n%s", res.Summary())
	}
	if res.Load.Correct < 10 || res.BotStats == nil || res.BotStats.Handled != res.Load.Updates {
		t.Fatalf("replies %d correct; handled %+v of %d updates", res.Load.Correct, res.BotStats, res.Load.Updates)
	}
	for _, tr := range res.Trends {
		if !tr.Known {
			t.Errorf("%s not measured in process", tr.Resource)
		}
	}
	// In process the heap profiles come from this process: compared by site.
	if res.Heap == nil || res.Heap.Profiles != 2 {
		t.Errorf("no heap comparison in process: %s", res.HeapNote)
	} else if rt := res.Heap.Runtime[1]; rt.Source != "memstats" || rt.NumGC <= res.Heap.Runtime[0].NumGC || rt.HeapAlloc <= 0 || rt.ProfileInuse <= 0 {
		t.Errorf("runtime figures %+v", res.Heap.Runtime)
	}
	checkOutputs(t, res, "**PASS**", "goroutines", "## Heap by allocation site", "site(s) leaking")
}

func checkOutputs(t *testing.T, res *Result, wants ...string) {
	t.Helper()
	md, err := os.ReadFile(res.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wants {
		if !strings.Contains(string(md), w) {
			t.Errorf("report.md lacks %q:\n%s", w, md)
		}
	}
	svg, err := os.ReadFile(res.ChartPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(svg), "<svg") || strings.Count(string(svg), "<polyline") < 2 || !strings.HasSuffix(string(svg), "</svg>\n") {
		t.Errorf("chart.svg is not a chart with at least two series:\n%.500s", svg)
	}
}

func TestSoakRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"neither command nor in-process", Config{}, "either a bot command or in-process"},
		{"both", Config{Command: "true", InProcess: true}, "either a bot command or in-process"},
		{"bot exits at once", Config{Command: "exit 3", Duration: time.Second}, "exited before its first Bot API call"},
		{"bot never calls", Config{Command: "sleep 30", Duration: time.Second, StartTimeout: 300 * time.Millisecond, StopTimeout: time.Second}, "no Bot API call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.OutDir = t.TempDir()
			_, err := Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(tt.want, "either") && !errors.Is(err, ErrConfig) {
				t.Fatalf("%v does not wrap ErrConfig", err)
			}
		})
	}
}

// A cancelled run stops at once and still writes its report, marked
// interrupted.
func TestSoakInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	// Without OutDir the report goes to a new temporary directory.
	t.Setenv("TMPDIR", t.TempDir())
	res, err := Run(ctx, Config{InProcess: true, Duration: time.Hour, Load: demo.LoadConfig{Users: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted {
		t.Fatal("not marked interrupted")
	}
	if filepath.Dir(res.OutDir) != os.TempDir() || !strings.HasPrefix(filepath.Base(res.OutDir), "tidygram-soak-") || filepath.Dir(res.ReportPath) != res.OutDir {
		t.Errorf("output in %s (report %s), want a new directory in %s", res.OutDir, res.ReportPath, os.TempDir())
	}
	// Interrupted before the second half: no heap profiles to compare, and the report says so.
	checkOutputs(t, res, "INTERRUPTED", "Not compared: the run ended before the fitted window started.")
}

// A bot that dies during the run fails it at once, whatever its trends.
func TestSoakBotDies(t *testing.T) {
	bin := buildLeakyBot(t)
	res, err := Run(context.Background(), Config{
		Command:  "(sleep 2; kill $$) & exec " + bin, // the shell becomes the bot; it is killed after 2 s
		Duration: time.Minute,
		Load:     demo.LoadConfig{Users: 3, Scenario: demo.ScenarioEcho},
		OutDir:   t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || !strings.Contains(strings.Join(res.Problems, ";"), "exited before the end") {
		t.Fatalf("problems %q, want the early exit", res.Problems)
	}
}
