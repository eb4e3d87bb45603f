package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tidygram/tidygram/leak"
)

// fixture is a dump from leak/testdata (see its README).
func fixture(name string) string { return filepath.Join("..", "..", "leak", "testdata", name) }

// leaks runs "tidygram leaks args…" in-process and returns its exit status
// and output.
func leaks(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), append([]string{"leaks"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestLeaksExplainsEachPattern(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"body-not-closed.txt", []string{"[body-not-closed]", "defer resp.Body.Close()", "HTTP client pool: 40 connection(s), 40 waiting"}},
		{"idle-conns.txt", []string{"[idle-conns]", "Share one http.Client"}},
		{"outlived-update.txt", []string{"[outlived-update]", "handler /remind, update 90", "c.Go"}},
		{"outlived-update-debug1.txt", []string{"[outlived-update]", "debug=1"}},
		{"sleep-loop.txt", []string{"[sleep-loop]", "time.Ticker"}},
		{"select-forever.txt", []string{"[select-forever]", "<-ctx.Done()"}},
		{"nil-chan.txt", []string{"[nil-chan]"}},
		{"ticker-loop.txt", []string{"[ticker-loop]", "t.Stop()"}},
		{"lost-labels.txt", []string{"[lost-labels]", "context.Background()"}},
		{"blocked-hours.txt", []string{"[blocked-hours]", "187 min"}},
		{"mutex-held.txt", []string{"[mutex-held]", "25 min"}},
		{"server-conns.txt", []string{"[server-conns]", "IdleTimeout"}},
		{"dial-stuck.txt", []string{"[dial-stuck]", "TLSHandshakeTimeout"}},
		{"proven.txt", []string{"goroutineleak profile", "proven leaked", "[leaked-send]", "[leaked-waitgroup]", "[leaked-receive]"}},
		{"proven-debug1.txt", []string{"goroutineleak profile, debug=1", "[proven]"}},
		{"steady.txt", []string{"No known leak pattern found."}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			code, out, errs := leaks(t, fixture(tt.file))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestLeaksStdinAndJSON(t *testing.T) {
	data, err := os.ReadFile(fixture("outlived-update.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := leaksMain(t.Context(), []string{"-", "--json"}, bytes.NewReader(data), &out, &out); err != nil {
		t.Fatal(err)
	}
	var a leak.Analysis
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if a.Total != 9 || a.Debug != 2 || len(a.Findings) == 0 || a.Findings[0].ID != "outlived-update" {
		t.Errorf("analysis %+v", a)
	}
	if err := leaksMain(t.Context(), nil, strings.NewReader("not a dump\n"), &out, &out); err == nil || !strings.Contains(err.Error(), "not a goroutine dump") {
		t.Errorf("bad input: %v", err)
	}
}

func TestLeaksUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--nosuch"}, {"a", "b"}, {"--diff", "a"}, {"--watch", "http://x", "--max-growth", "fast"},
		{"--watch", "http://x", "--every", "1s", "--for", "2s"}, {"--watch", "http://x", "extra"},
	} {
		if code, _, _ := leaks(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, _, errs := leaks(t, "/no/such/file"); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing file: exit %d %s", code, errs)
	}
}

func TestLeaksDiff(t *testing.T) {
	code, out, errs := leaks(t, "--diff", fixture("steady.txt"), fixture("outlived-update.txt"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{"+5  handler /remind (0 -> 5)", "[outlived-update]"} {
		if !strings.Contains(out, w) {
			t.Errorf("diff lacks %q:\n%s", w, out)
		}
	}
	code, out, _ = leaks(t, "--json", "--diff", fixture("steady.txt"), fixture("steady.txt"))
	var r diffReport
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Owners) != 0 || r.Before != r.After {
		t.Errorf("self diff: exit %d %s", code, out)
	}
}

// dumpServer serves debug=1 dumps whose leaking group grows by perFetch
// goroutines at each request, behind a bearer token.
func dumpServer(t *testing.T, perFetch int) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/debug/pprof/goroutine" || r.URL.Query().Get("debug") != "1" {
			http.NotFound(w, r)
			return
		}
		leaked := 1 + int(n.Add(1))*perFetch
		fmt.Fprintf(w, "goroutine profile: total %d\n", 20+leaked)
		fmt.Fprintf(w, "16 @ 0x1 0x2\n# labels: {\"component\":\"worker\", \"tidygram.bot\":\"b\"}\n#\t0x1\tgithub.com/tidygram/tidygram/dispatch.(*Pool).loop+0x1\t/src/dispatch/pool.go:80\n\n")
		fmt.Fprintf(w, "4 @ 0x1 0x3\n#\t0x3\tmain.main+0x1\t/app/main.go:10\n\n")
		fmt.Fprintf(w, "%d @ 0x1 0x4\n# labels: {\"component\":\"handler\", \"handler\":\"/remind\", \"tidygram.bot\":\"b\", \"update_id\":\"9\"}\n#\t0x4\tmain.remind.func1+0x1\t/app/remind.go:31\n\n", leaked)
	}))
	t.Cleanup(func() {
		srv.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return srv
}

func TestLeaksWatch(t *testing.T) {
	growing := dumpServer(t, 5)
	code, out, errs := leaks(t, "--watch", growing.URL, "--token", "tok", "--every", "5ms", "--for", "100ms", "--max-growth", "5/min")
	if code != 1 || !strings.Contains(errs, "sustained goroutine growth") || !strings.Contains(out, "handler /remind") || !strings.Contains(out, "[outlived-update]") {
		t.Errorf("growing: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	steady := dumpServer(t, 0)
	code, out, errs = leaks(t, "--watch", steady.URL, "--token", "tok", "--every", "5ms", "--for", "100ms", "--json")
	var r watchReport
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Sustained || len(r.Samples) < 10 || r.Rate != 0 {
		t.Errorf("steady: exit %d %s\n%s", code, errs, out)
	}
	// Without the token the server refuses, and the command says why.
	code, _, errs = leaks(t, "--watch", steady.URL, "--every", "5ms", "--for", "100ms")
	if code != 1 || !strings.Contains(errs, "401") || !strings.Contains(errs, "--token") {
		t.Errorf("no token: exit %d %s", code, errs)
	}
	// A single read from the URL works too.
	code, out, _ = leaks(t, "--token", "tok", growing.URL+"/debug/pprof/goroutine?debug=1")
	if code != 0 || !strings.Contains(out, "handler /remind") {
		t.Errorf("URL read: exit %d %s", code, out)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"5/min": 5, "5": 5, "0.5/s": 30, "300/h": 5} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x/min", "-1/min", "5/day"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) accepted", in)
		}
	}
}
