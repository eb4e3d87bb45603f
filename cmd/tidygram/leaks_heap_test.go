package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/heap"
	"github.com/tidygram/tidygram/tgtest"
)

const opsToken = "heap-test-token"

// photoSize is the size of each photo the tests send: 128 KiB.
const photoSize = 128 << 10

// photobot is leak/heap/testdata/photobot running against an emulator:
// its ops URL and the users who send it photos, each in turn (tidygram
// sends at most one message a second to a chat, so one user would make
// every reply wait a second).
type photobot struct {
	ops   string
	users []*tgtest.SimUser
	sent  int
}

// startPhotobot builds and starts the photo bot (with -keep: the leaking
// one) against a new emulator; it is stopped with SIGTERM at the end of
// the test.
func startPhotobot(t *testing.T, keep bool) *photobot {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "photobot")
	if out, err := exec.Command("go", "build", "-o", bin, "../../leak/heap/testdata/photobot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := tgtest.NewServer(tgtest.WithTB(t))
	cmd := exec.Command(bin, fmt.Sprintf("-keep=%v", keep))
	cmd.Env = append(os.Environ(), "TELEGRAM_API_URL="+srv.URL(), "TELEGRAM_TOKEN="+srv.Token(), "TIDYGRAM_OPS_TOKEN="+opsToken)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("photobot: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	ops, ok := strings.CutPrefix(strings.TrimSpace(line), "ops ")
	if err != nil || !ok {
		t.Fatalf("photobot's first line %q: %v", line, err)
	}
	b := &photobot{ops: ops}
	for i := range 32 {
		b.users = append(b.users, srv.NewUser(fmt.Sprintf("user%d", i)))
	}
	return b
}

// send sends n photos of photoSize bytes, each different, and waits for
// each reply.
func (b *photobot) send(t testing.TB, n int) {
	t.Helper()
	for range n {
		b.sent++
		img := make([]byte, photoSize)
		for i := range img {
			img[i] = byte(b.sent + i*7)
		}
		u := b.users[b.sent%len(b.users)]
		if _, err := u.SendPhoto(img, ""); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		m, err := u.WaitReply(ctx)
		cancel()
		if err != nil || m.Text == "" {
			t.Fatalf("reply to photo %d: %q, %v", b.sent, m.Text, err)
		}
	}
	// A handler replies before it returns: until it has, its photo is
	// still live and a heap profile taken now would count it. Wait for
	// the bot's own count of handled updates (its ops server's /metrics).
	bottest.Eventually(t, 30*time.Second, fmt.Sprintf("the bot has handled %d photos", b.sent), func() bool {
		return b.handled(t) >= b.sent
	})
}

// handled returns the bot's tidygram_updates_handled_total, summed over
// its labels.
func (b *photobot) handled(t testing.TB) int {
	t.Helper()
	data, err := heap.Fetch(t.Context(), http.DefaultClient, b.ops+"/metrics", "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "tidygram_updates_handled_total{") {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			n += int(v)
		}
	}
	return n
}

// profile saves the bot's heap profile (after a GC) to a file.
func (b *photobot) profile(t *testing.T, name string) string {
	t.Helper()
	data, err := heap.Fetch(t.Context(), http.DefaultClient, b.ops+"/debug/pprof/heap?gc=1", opsToken)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// leaksDiff runs "tidygram leaks --json --diff" on two profiles taken
// before and after the bot got n photos.
func (b *photobot) leaksDiff(t *testing.T, n int, args ...string) (*heap.Diff, string) {
	t.Helper()
	b.send(t, 4) // warm up: connections, buffers, the first map buckets
	before := b.profile(t, "before.pb.gz")
	b.send(t, n)
	after := b.profile(t, "after.pb.gz")
	code, out, errs := leaks(t, append([]string{"--json", "--diff", before, after}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var d heap.Diff
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	_, text, _ := leaks(t, append([]string{"--diff", before, after}, args...)...)
	return &d, text
}

// A handler that keeps every photo in a global map is a leak, at the site
// that downloads the photo, under that handler, with the read-whole
// pattern's fix.
func TestHeapLeakOfARealBot(t *testing.T) {
	b := startPhotobot(t, true)
	const n = 32 // 4 MiB of photos
	d, text := b.leaksDiff(t, n, "--route", "photo=main.savePhoto")
	t.Logf("tidygram leaks --diff:\n%s", text)
	if d.Leaks < 1 || len(d.Sites) == 0 {
		t.Fatalf("no leak found: %+v", d)
	}
	top := d.Sites[0]
	if top.Verdict != heap.VerdictLeak || top.Func != "main.download" || top.Handler != "main.savePhoto" || top.Route != "photo" {
		t.Errorf("top site %s: %s (%s), want a leak at main.download under main.savePhoto (route photo)", top.Verdict, top.Where(), top.Why)
	}
	if want := int64(n * photoSize); top.InuseDelta < want*3/4 || top.InuseDelta > want*2 {
		t.Errorf("top site grew %d bytes, want about %d", top.InuseDelta, want)
	}
	if len(d.Findings) == 0 || d.Findings[0].ID != "read-whole" || !strings.Contains(d.Findings[0].Why, "main.savePhoto") {
		t.Errorf("findings: %+v", d.Findings)
	}
	for _, g := range d.Sites {
		if g.Verdict == heap.VerdictChurn && g.Handler == "main.savePhoto" {
			t.Errorf("the kept photos also called churn: %+v", g)
		}
	}
	for _, w := range []string{"1 site(s) leaking", "handler main.savePhoto (route photo)", "[read-whole]", "fix: Stream it"} {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q", w)
		}
	}
	// One profile read from the ops URL, with the runtime's figures and,
	// without --route, the route the bot's ops server names
	// (/debug/routes).
	code, out, errs := leaks(t, "--heap", "--token", opsToken, b.ops)
	if code != 0 || !strings.Contains(out, "via bytes.growSlice, handler main.savePhoto (route photo)") || !strings.Contains(out, "runtime: HeapAlloc ") {
		t.Errorf("one profile from the URL: exit %d %s\n%s", code, errs, out)
	}
}

// A handler that allocates as much but keeps nothing is churn, not a
// leak.
func TestHeapChurnOfARealBot(t *testing.T) {
	b := startPhotobot(t, false)
	d, text := b.leaksDiff(t, 48)
	t.Logf("tidygram leaks --diff:\n%s", text)
	if d.Leaks != 0 || len(d.Growing()) != 0 {
		t.Errorf("%d leak(s) in a bot that keeps nothing: %+v", d.Leaks, d.Growing())
	}
	i := slices.IndexFunc(d.Sites, func(g heap.Growth) bool { return g.Handler == "main.hashPhoto" })
	if i < 0 || d.Sites[i].Verdict != heap.VerdictChurn || d.Sites[i].Func != "main.download" || d.Sites[i].AllocDelta < 48*photoSize {
		t.Fatalf("no churn at main.download under main.hashPhoto: %+v", d.Sites)
	}
}

// --watch --heap samples a fixed number of profiles; the proxy in front
// of the bot's ops server has it handle two photos before each heap
// profile, so the heap grows by the same amount at every sample whatever
// the machine's speed.
func TestHeapWatch(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			b := startPhotobot(t, keep)
			target, err := url.Parse(b.ops)
			if err != nil {
				t.Fatal(err)
			}
			rp := httputil.NewSingleHostReverseProxy(target)
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/debug/pprof/heap" {
					b.send(t, 2)
				}
				rp.ServeHTTP(w, r)
			}))
			defer proxy.Close()
			code, out, errs := leaks(t, "--watch", proxy.URL, "--heap", "--token", opsToken, "--every", "10ms", "--for", "110ms", "--max-heap-growth", "1MiB/min")
			t.Logf("exit %d\n%s\n%s", code, out, errs)
			if want := 12; strings.Count(out, " in use\n") != want {
				t.Errorf("%d samples, want %d", strings.Count(out, " in use\n"), want)
			}
			if keep && (code != 1 || !strings.Contains(errs, "sustained heap growth") || !strings.Contains(errs, "handler main.savePhoto (route photo)")) {
				t.Errorf("leaking bot: exit %d, stderr %s", code, errs)
			}
			if !keep && code != 0 {
				t.Errorf("churning bot: exit %d, stderr %s", code, errs)
			}
		})
	}
}

// The command tells heap profiles from dumps by their bytes, from a file
// or stdin, and refuses mixing them.
func TestLeaksHeapInputs(t *testing.T) {
	data, err := leak.HeapProfile()
	if err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(t.TempDir(), "heap.pb.gz")
	if err := os.WriteFile(prof, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := leaks(t, prof); code != 0 || !strings.Contains(out, "Top sites by in-use bytes:") || !strings.Contains(out, "no runtime figures") {
		t.Errorf("file: exit %d %s\n%s", code, errs, out)
	}
	var out bytes.Buffer
	if err := leaksMain(t.Context(), []string{"--json", "-"}, bytes.NewReader(data), &out, &out); err != nil {
		t.Fatal(err)
	}
	var r heap.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Sites == 0 || len(r.BySpace) == 0 || r.Runtime.Source != "profile" {
		t.Errorf("stdin: %v %+v", err, r)
	}
	if code, _, errs := leaks(t, "--diff", fixture("steady.txt"), prof); code != 2 || !strings.Contains(errs, "a goroutine dump and a heap profile") {
		t.Errorf("mixed diff: exit %d %s", code, errs)
	}
	for _, args := range [][]string{
		{"--debug", "3", prof}, {"--route", "main.f", prof}, {"--min-growth", "lots", prof},
		{"--watch", "http://x", "--max-heap-growth", "fast"},
	} {
		if code, _, errs := leaks(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errs)
		}
	}
	// A bare ops URL reads goroutines with debug=1 (the server answers only that).
	srv := dumpServer(t, 0)
	if code, out, errs := leaks(t, "--token", "tok", srv.URL); code != 0 || !strings.Contains(out, "debug=1") {
		t.Errorf("bare URL: exit %d %s\n%s", code, errs, out)
	}
	// An ops server whose /debug/routes answers garbage or fails: the
	// profile is still read, without route names.
	for _, routes := range []string{"<html>no such page</html>", ""} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/debug/pprof/heap":
				w.Write(data)
			case "/debug/routes":
				if routes == "" {
					http.Error(w, "boom", http.StatusInternalServerError)
					return
				}
				fmt.Fprint(w, routes)
			default:
				http.NotFound(w, r)
			}
		}))
		code, out, errs := leaks(t, "--heap", srv.URL)
		srv.Close()
		if code != 0 || !strings.Contains(out, "Top sites by in-use bytes:") || strings.Contains(out, "(route ") {
			t.Errorf("routes answer %q: exit %d %s\n%s", routes, code, errs, out)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	// --heap on a server of goroutine dumps says what it got.
	if code, _, errs := leaks(t, "--watch", srv.URL+"/debug/pprof/goroutine?debug=1", "--heap", "--token", "tok", "--every", "1ms", "--for", "9ms"); code != 1 || !strings.Contains(errs, "not a heap profile") {
		t.Errorf("--heap on dumps: exit %d %s", code, errs)
	}
}

func TestParseByteRate(t *testing.T) {
	for in, want := range map[string]float64{"4MiB/min": 4 << 20, "1KiB/s": 60 << 10, "60MB/h": 1e6, "1024": 1024} {
		if got, err := parseByteRate(in); err != nil || got != want {
			t.Errorf("parseByteRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "4XB/min", "-1MiB/min", "4MiB/day"} {
		if _, err := parseByteRate(in); err == nil {
			t.Errorf("parseByteRate(%q) accepted", in)
		}
	}
}

// Whatever comes on stdin, the command explains it or says why not: it
// never panics, and a refusal is an error the exit status reports.
func FuzzLeaksInput(f *testing.F) {
	data, err := leak.HeapProfile()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("goroutine profile: total 1\n1 @ 0x1\n#\t0x1\tmain.main+0x1\t/app/main.go:10\n\n"))
	f.Add([]byte("heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1\n"))
	f.Add([]byte{0x5a, 0x04, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		err := leaksMain(context.Background(), []string{"--json", "-"}, bytes.NewReader(in), &out, &out)
		if err == nil && !json.Valid(out.Bytes()) {
			t.Fatalf("accepted, but the JSON is not: %q", out.String())
		}
	})
}
