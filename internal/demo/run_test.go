package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// A short demo run with a fault phase keeps every promise and says so.
func TestRun(t *testing.T) {
	// Every poll fails during the fault phase: faults are certain, and the
	// bot must catch up afterwards.
	rules, err := ParseFaults("getUpdates:502:1,getFile:502:0.5")
	if err != nil {
		t.Fatal(err)
	}
	var out, progress bytes.Buffer
	rep, err := Run(context.Background(), Config{
		Duration: 3 * time.Second,
		Load:     LoadConfig{Users: 10, Think: 100 * time.Millisecond},
		Faults:   rules,
		Seed:     3,
		Out:      &out,
		Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if !rep.OK() {
		t.Fatalf("problems: %v", rep.Problems())
	}
	if rep.Load.Updates == 0 || rep.Bot.Handled != rep.Load.Updates {
		t.Fatalf("users sent %d updates, bot handled %d", rep.Load.Updates, rep.Bot.Handled)
	}
	if len(rep.Emulator.Faults) == 0 {
		t.Fatal("the fault phase injected nothing")
	}
	for _, want := range []string{"lost                      0", "fetched again, skipped", "OK: nothing lost"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The ops server is gone when the report is printed: no address, no token.
	for _, gone := range []string{rep.OpsURL, rep.OpsToken} {
		if gone == "" || strings.Contains(out.String(), gone) {
			t.Errorf("report names the stopped ops server (%q)", gone)
		}
	}
	if !strings.Contains(progress.String(), "upd/s") {
		t.Errorf("no progress line in 3 s:\n%s", progress.String())
	}
}
