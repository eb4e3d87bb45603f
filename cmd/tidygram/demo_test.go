package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/bottest"
)

// cliCase is one command line and what it must do.
type cliCase struct {
	name string
	args []string
	code int    // exit status
	want string // in stdout or stderr
}

func checkCLI(t *testing.T, tests []cliCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb syncBuf
			if code := run(context.Background(), tt.args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String()+errb.String(), tt.want) {
				t.Fatalf("output lacks %q:\n%s%s", tt.want, out.String(), errb.String())
			}
		})
	}
}

func TestDemoFlags(t *testing.T) {
	checkCLI(t, []cliCase{
		{"help", []string{"demo", "-h"}, 0, "Usage: tidygram demo"},
		{"bad faults", []string{"demo", "--faults", "getUpdates:teapot:0.1"}, 2, "unknown fault kind"},
		{"bad probability", []string{"demo", "--faults", "getUpdates:502:2"}, 2, "probability"},
		{"too short", []string{"demo", "--duration", "10ms"}, 2, "--duration must be at least 1s"},
		{"extra argument", []string{"demo", "now"}, 2, "unexpected arguments"},
	})
}

// A short demo run with faults exits 0 and reports nothing lost, replies
// checked and goroutines back where they started.
func TestDemoRun(t *testing.T) {
	var out, errb syncBuf
	code := run(context.Background(), []string{"demo", "--duration", "3s", "--users", "8", "--think", "200ms", "--seed", "5"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	rep := out.String()
	for _, re := range []string{
		`updates sent by users +[1-9]\d*`,
		`lost +0\n`,
		`handled twice +0\n`,
		`replies checked correct +(\d+) of (\d+) \(wrong 0, missing 0\)`,
		`goroutines +before (\d+), peak \d+, after (\d+)`,
		`ops server +http://127\.0\.0\.1:\d+/metrics`,
		`OK: nothing lost`,
	} {
		if !regexp.MustCompile(re).MatchString(rep) {
			t.Errorf("report does not match %s:\n%s", re, rep)
		}
	}
	g := regexp.MustCompile(`goroutines +before (\d+), peak \d+, after (\d+)`).FindStringSubmatch(rep)
	if g == nil {
		t.Fatal("no goroutine line")
	}
	// Goroutines of the test binary that were ending when the demo began
	// may be gone after it: after ≤ before.
	before, _ := strconv.Atoi(g[1])
	after, _ := strconv.Atoi(g[2])
	if after > before {
		t.Errorf("goroutines: %d before the demo, %d after", before, after)
	}
	if !strings.Contains(errb.String(), "upd/s") {
		t.Errorf("no progress line on stderr:\n%s", errb.String())
	}
}

// --keep leaves the ops server up after the report until the context ends;
// it serves the demo bot's metrics, and the goroutine view with the token.
func TestDemoKeep(t *testing.T) {
	var out, errb syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--keep", "--duration", "1s", "--users", "3", "--faults", "off"}, &out, &errb)
	}()
	bottest.Eventually(t, 60*time.Second, "'Still running' printed", func() bool { return strings.Contains(out.String(), "Still running") })
	m := regexp.MustCompile(`ops server is at (\S+) \(token (\w+)\)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no ops URL in:\n%s", out.String())
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, m[1]+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics", ""); code != 200 || !strings.Contains(body, "tidygram_updates_handled_total") {
		t.Errorf("/metrics: %d, without tidygram_updates_handled_total", code)
	}
	if code, _ := get("/debug/goroutines", ""); code != http.StatusUnauthorized {
		t.Errorf("/debug/goroutines without token: %d, want 401", code)
	}
	if code, _ := get("/debug/goroutines", m[2]); code != 200 {
		t.Errorf("/debug/goroutines with token: %d, want 200", code)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after Ctrl-C:\n%s\n%s", code, out.String(), errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo --keep did not stop within 60 s of cancel")
	}
	if !strings.Contains(out.String(), "Stopped:") || !strings.Contains(out.String(), "OK: nothing lost") {
		t.Errorf("no final verdict after stop:\n%s", out.String())
	}
}

// Ctrl-C during the run stops it early: the report is marked interrupted,
// with no verdict, and the exit status is 0.
func TestDemoInterrupted(t *testing.T) {
	var out, errb syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"demo", "--duration", "10m", "--users", "5"}, &out, &errb) }()
	bottest.Eventually(t, 60*time.Second, "a progress line (the run is under way)", func() bool { return strings.Contains(errb.String(), "upd/s") })
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the demo did not stop within 60 s of Ctrl-C")
	}
	for _, want := range []string{"(interrupted)", "Interrupted: no verdict."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
