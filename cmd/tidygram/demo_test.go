package main

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
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
		{"one instance too few", []string{"demo", "--instances", "0"}, 2, "--instances must be from 2 to 16"},
		{"instances and faults", []string{"demo", "--instances", "3", "--faults", "off"}, 2, "--faults cannot be combined with --instances"},
		{"instances and keep", []string{"demo", "--instances", "3", "--keep"}, 2, "--keep cannot be combined with --instances"},
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
		`fetched again, skipped +\d+ times for [1-9]\d* updates sent: expected, none handled twice\n +\(getUpdates confirms by offset`,
		`OK: nothing lost`,
	} {
		if !regexp.MustCompile(re).MatchString(rep) {
			t.Errorf("report does not match %s:\n%s", re, rep)
		}
	}
	if strings.Contains(rep, "127.0.0.1") || strings.Contains(rep, "Bearer") {
		t.Errorf("the report names the ops server, stopped by then:\n%s", rep)
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
	m := regexp.MustCompile(`ops page +(http://\S+)/debug/\n +token +(\w+)\n`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no ops page and token in:\n%s", out.String())
	}
	for _, want := range []string{
		"open " + m[1] + "/debug/#token=" + m[2] + "\n",
		"curl -H 'Authorization: Bearer " + m[2] + "' " + m[1] + "/debug/goroutines\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
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

// `tidygram demo --instances 3`, run as a user runs it (the built binary,
// whose instances are processes of the same binary): one instance is
// killed with SIGKILL halfway; the report shows nothing lost, per-chat
// order kept, no 429, the duplicates counted, the two others stopped
// with exit 0, and the command exits 0.
func TestDemoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and starts processes")
	}
	bin := filepath.Join(t.TempDir(), "tidygram")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // generous: the run takes about 10 s
	defer cancel()
	var out, errb syncBuf
	cmd := exec.CommandContext(ctx, bin, "demo", "--instances", "3", "--duration", "8s", "--users", "8", "--think", "200ms", "--seed", "3")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo --instances 3: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	rep := out.String()
	for _, re := range []string{
		`3 instances on a 3-node JetStream cluster, 8 users`,
		`killed i\d( \(the poll leader\))? with SIGKILL`,
		`updates sent by users +[1-9]\d*\n`,
		`lost +0\n`,
		`duplicates +\d+ `,
		`per-chat order +kept in all 8 chats`,
		`replies checked correct +(\d+) of (\d+) \(wrong 0, missing 0;`,
		`429s +0 `,
		`updates unconfirmed +0\n`,
		`instances +(i\d (killed|exit 0)(, )?){3}\n`,
		`OK: nothing lost, per-chat order kept, no 429`,
	} {
		if !regexp.MustCompile(re).MatchString(rep) {
			t.Errorf("report does not match %s:\n%s", re, rep)
		}
	}
	if n := strings.Count(rep, "exit 0"); n != 2 {
		t.Errorf("%d instances exited 0, want the 2 not killed:\n%s", n, rep)
	}
	if !strings.Contains(errb.String(), "instances 3/3") || !strings.Contains(errb.String(), "instances 2/3") {
		t.Errorf("the progress lines do not show the kill:\n%s", errb.String())
	}
}
