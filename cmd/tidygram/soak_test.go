package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSoakFlags(t *testing.T) {
	checkCLI(t, []cliCase{
		{"help", []string{"soak", "-h"}, 0, "Usage: tidygram soak"},
		{"no bot", []string{"soak"}, 2, "give --bot"},
		{"both", []string{"soak", "--bot", "./x", "--in-process"}, 2, "give --bot"},
		{"unquoted command", []string{"soak", "--bot", "python3", "bot.py"}, 2, "quote the --bot command"},
		{"bad faults", []string{"soak", "--in-process", "--faults", "x:502"}, 2, "want method:kind:probability"},
		{"bad expect", []string{"soak", "--in-process", "--expect", "poetry"}, 2, "unknown scenario"},
		{"bad duration", []string{"soak", "--in-process", "--duration", "1ms"}, 2, "--duration"},
	})
}

// soak exits 1 for the leaky echo bot and 0 for the demo bot, and writes
// the report and the chart either way.
func TestSoakExitStatus(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "leakybot")
	if out, err := exec.Command("go", "build", "-o", bin, "../../internal/soak/testdata/leakybot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tests := []cliCase{
		{"leaky bot", []string{"--bot", bin, "--expect", "echo", "--faults", "off", "--think", "20ms", "--users", "20"}, 1, "fds"},
		// RSS is no signal under the race detector (its shadow memory grows).
		{"demo bot", []string{"--in-process", "--think", "100ms", "--users", "10", "--max-rss", "1e6"}, 0, "PASS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var out, errb syncBuf
			args := append([]string{"soak", "--duration", "5s", "--out", dir}, tt.args...)
			if code := run(context.Background(), args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("summary lacks %q:\n%s", tt.want, out.String())
			}
			for _, f := range []string{"report.md", "chart.svg"} {
				if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
}
