package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if raw := os.Getenv(childEnv); raw != "" { // a library's bot, started by a test below
		childMain(raw)
		return
	}
	if raw := os.Getenv(fakeEnv); raw != "" { // the fake Bot API server, started by a test below
		os.Exit(fakeMain(raw))
	}
	goleak.VerifyTestMain(m)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// tinyConfig is -quick shrunk to a few seconds per library.
func tinyConfig(t *testing.T) config {
	cfg := defaultConfig()
	cfg.quick()
	cfg.updates, cfg.warmup, cfg.chats = 150, 5, 15
	cfg.restartUpdates, cfg.restartChats = 40, 4
	cfg.quiet = 300 * time.Millisecond
	cfg.faultCycles = 20
	cfg.fileMiB, cfg.bodyMiB = 4, 2
	cfg.tputLimit = time.Minute
	cfg.progress = testWriter{t}
	return cfg
}

// TestEveryLibraryAnswersEveryUpdate runs every workload for every library
// with tiny counts and checks counts only: every update of the throughput
// and webhook runs was answered, every file came back whole, tidygram lost
// nothing and left no goroutine.
func TestEveryLibraryAnswersEveryUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 40-odd processes")
	}
	cfg := tinyConfig(t)
	res, err := cfg.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	res.print(&table, &cfg)
	t.Log("\n" + table.String())
	for _, want := range []string{"Server: the throughput runs use the fake Bot API server", "## CPU per update in every throughput run", "| S1 CPU per update | ≤ 1.10× floor |"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}

	want := int64(cfg.updates + cfg.warmup)
	for _, lib := range cfg.libs {
		t.Run(lib, func(t *testing.T) {
			for _, tc := range []struct {
				workload string
				runs     []tputResult
			}{
				{"throughput", res.throughput[lib]},
				{"webhook", res.webhook[lib]},
			} {
				if len(tc.runs) != cfg.rounds {
					t.Fatalf("%s: %d runs, want %d", tc.workload, len(tc.runs), cfg.rounds)
				}
				for _, r := range tc.runs {
					if r.Err != "" || r.Sent != want || r.UpdatesPerSec <= 0 {
						t.Errorf("%s: %d replies, want %d (err %q)", tc.workload, r.Sent, want, r.Err)
					}
					// The fake counted every chat's replies and its own CPU.
					if r.ChatsShort != 0 || r.ChatsOver != 0 || r.Refused != 0 || r.LastUnknown != "" {
						t.Errorf("%s: %d chats short, %d over, %d refused, unknown method %q", tc.workload, r.ChatsShort, r.ChatsOver, r.Refused, r.LastUnknown)
					}
					if r.ServerCPUPerUpdate <= 0 || r.Conns <= 0 || (tc.workload == "throughput" && r.PollsPerUpdate <= 0) {
						t.Errorf("%s: server CPU %.1f µs/update, %v connections, %.4f getUpdates/update", tc.workload, r.ServerCPUPerUpdate, r.Conns, r.PollsPerUpdate)
					}
				}
			}
		})
	}
	for _, r := range res.stop {
		if r.Err != "" {
			t.Errorf("stop %s: %s", r.Lib, r.Err)
		}
		if r.Lost+r.Dup > r.Total {
			t.Errorf("stop %s: %d lost + %d duplicates of %d", r.Lib, r.Lost, r.Dup, r.Total)
		}
		if r.Lib == "tidygram" && (r.Lost != 0 || r.GoReturn != 0 || r.GoAfter != 0) {
			t.Errorf("tidygram stop: %d lost, %d/%d goroutines left (%v)", r.Lost, r.GoReturn, r.GoAfter, r.Leftovers)
		}
	}
	for _, r := range res.faults {
		if r.Err != "" || r.Cycles == 0 || r.Pushed == 0 {
			t.Errorf("faults %s: %d cycles, %d pushed (err %q)", r.Lib, r.Cycles, r.Pushed, r.Err)
		}
		if r.Lib == "tidygram" && r.Lost != 0 {
			t.Errorf("tidygram lost %d of %d updates under poll faults", r.Lost, r.Pushed)
		}
	}
	for _, r := range res.files {
		if r.UpErr != "" || r.DownErr != "" || !r.DownloadedExactly {
			t.Errorf("files %s: upload %q, download %q, whole %v", r.Lib, r.UpErr, r.DownErr, r.DownloadedExactly)
		}
	}
	if len(res.stop) != len(cfg.libs) || len(res.faults) != len(cfg.libs) || len(res.files) != len(cfg.libs) {
		t.Errorf("results for %d/%d/%d libraries, want %d", len(res.stop), len(res.faults), len(res.files), len(cfg.libs))
	}
}

// TestUnknownNamesAreRefused checks the flag validation.
func TestUnknownNamesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name      string
		libs      []string
		workloads []string
	}{
		{"library", []string{"nosuchlib"}, allWorkloads},
		{"workload", []string{"floor"}, []string{"nosuchworkload"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(t)
			cfg.libs, cfg.workloads = tc.libs, tc.workloads
			if _, err := cfg.run(context.Background()); err == nil {
				t.Fatal("run accepted an unknown name")
			}
		})
	}
}

// pairedRatios pairs the runs of one round only, leaves out rounds where
// either failed, and gives the median with the range.
func TestPairedRatios(t *testing.T) {
	cpu := func(r tputResult) float64 { return r.CPUPerUpdate }
	run := func(round int, v float64, err string) tputResult {
		return tputResult{Round: round, CPUPerUpdate: v, Err: err}
	}
	tests := []struct {
		name        string
		a, b        []tputResult
		med, lo, hi float64
		ok          bool
	}{
		{"three rounds", []tputResult{run(1, 11, ""), run(2, 30, ""), run(3, 12, "")},
			[]tputResult{run(1, 10, ""), run(2, 20, ""), run(3, 10, "")}, 1.2, 1.1, 1.5, true},
		{"a failed round is left out", []tputResult{run(1, 11, ""), run(2, 99, "timeout")},
			[]tputResult{run(1, 10, ""), run(2, 10, "")}, 1.1, 1.1, 1.1, true},
		{"rounds that do not match", []tputResult{run(1, 11, "")}, []tputResult{run(2, 10, "")}, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			med, lo, hi, ok := pairedRatios(tt.a, tt.b, cpu)
			near := func(x, y float64) bool { return x-y < 1e-9 && y-x < 1e-9 }
			if ok != tt.ok || !near(med, tt.med) || !near(lo, tt.lo) || !near(hi, tt.hi) {
				t.Fatalf("got %.3f (%.3f–%.3f) %v, want %.3f (%.3f–%.3f) %v", med, lo, hi, ok, tt.med, tt.lo, tt.hi, tt.ok)
			}
		})
	}
}
