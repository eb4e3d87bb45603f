package ops

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/spool/spooltest"
	"github.com/tidygram/tidygram/tgtest"
)

// chromiumPath finds the browser the page test drives: $TIDYGRAM_CHROME,
// else chromium (the Debian package), chromium-browser or google-chrome
// on PATH. Without one the test fails saying what to install.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TIDYGRAM_CHROME"); p != "" {
		exe, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("TIDYGRAM_CHROME: %v", err)
		}
		return exe
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the ops page test needs Chromium: install the Debian package chromium (apt-get install -y chromium) " +
		"or set TIDYGRAM_CHROME to a Chrome or Chromium binary (go test -short skips this test)")
	return ""
}

// startBrowser starts headless Chromium with a profile directory of the
// test's own and returns its chromedp context. At cleanup it closes the
// browser and fails the test if a process using that profile (the
// browser, its renderers, GPU and zygote processes) is still running.
func startBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.UserDataDir(profile), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 1000))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		bcancel()
		acancel()
		t.Fatalf("starting %s: %v", exe, err)
	}
	if len(processesUsing(profile)) == 0 {
		t.Errorf("no process found with the profile %s: the leftover check below could not see one", profile)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		if err := chromedp.Cancel(cctx); err != nil {
			t.Logf("closing the browser: %v", err)
		}
		cancel()
		bcancel()
		acancel() // kills what is left and waits for the browser process
		var left []string
		if !wait.For(20*time.Second, func() bool { left = processesUsing(profile); return len(left) == 0 }) {
			t.Errorf("Chromium processes left running: %v", left)
		}
	})
	return bctx
}

// processesUsing returns the ids of the running processes whose command
// line mentions dir (zombies have none).
func processesUsing(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range entries {
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmd, []byte(dir)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// screenshot captures the browser's viewport as a PNG: to
// $TIDYGRAM_OPS_SCREENSHOT when set (how docs/ops-page.png is made), else
// into the test's temporary directory. It returns the path.
func screenshot(t *testing.T, ctx context.Context) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot: not a PNG (%d bytes)", len(png))
	}
	path := os.Getenv("TIDYGRAM_OPS_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "ops-page.png")
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	return path
}

// waitJS evaluates expr in the browser's page until it is true (a
// navigation in between is retried); after 45 s it fails the test with
// what and the value of show.
func waitJS(t *testing.T, b context.Context, what, expr, show string) {
	t.Helper()
	var err error
	if wait.For(45*time.Second, func() bool {
		var ok bool
		ok, err = chromedp.Run(b, chromedp.Evaluate[bool](expr))
		return (err == nil && ok) || b.Err() != nil
	}) && b.Err() == nil {
		return
	}
	got, _ := chromedp.Run(b, chromedp.Evaluate[string](show))
	t.Fatalf("waiting for %s: no (last error %v); page: %s", what, err, got)
}

// TestOpsPageInBrowser runs a bot with its ops server and opens /debug/ in
// headless Chromium: refused without the token, signed in with it, every
// chart gets points, the heap a handler keeps shows as sustained growth,
// and a handler's planted goroutine leak and the watchdog's heap alarm
// show in the findings table. The whole test is
// bounded by two minutes; the browser's processes and every goroutine end
// with it.
func TestOpsPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	chromiumPath(t) // fail before starting anything
	leaktest.Check(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	srv := tgtest.NewServer(tgtest.WithTB(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	logs, err := os.Create(filepath.Join(t.TempDir(), "ops.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	start := time.Now()
	var ticks atomic.Int64
	bot := bottest.New(t, srv,
		tidygram.WithPollTimeout(time.Second), tidygram.WithoutFloodControl(),
		tidygram.WithLeakCheck(50*time.Millisecond),
		tidygram.WithSpool(spooltest.New()), // for the spool's chart
		// The watchdog, on the real heap: the text handler below keeps
		// 16 KiB an update (about 90 MiB a minute; the limit is 1). Each
		// reading follows a GC, so the live heap steps with what is kept,
		// and the watchdog's clock steps exactly one interval a reading,
		// so that the window fills after a known number of readings
		// whatever the machine's speed.
		tidygram.WithWatchdog(leak.WithSampleInterval(100*time.Millisecond), leak.WithWindow(2*time.Second),
			leak.WithLimits(leak.Limits{HeapBytes: 1 << 20}),
			leak.WithWatchClock(func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * 100 * time.Millisecond) }),
			leak.WithSampler(func(now time.Time) leak.Sample {
				runtime.GC()
				return leak.ReadSample(now)
			})),
		ForBot(WithListener(ln), WithToken(token), WithSampleInterval(100*time.Millisecond),
			WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))))
	release := make(chan struct{})
	bot.OnCommand("leak", func(c *tidygram.Context) error {
		go func() { <-release }() // left blocked: outlives its update
		return nil
	})
	var (
		keptMu sync.Mutex
		kept   [][]byte // a heap leak: dropped with the test
	)
	bot.OnText(func(c *tidygram.Context) error {
		keptMu.Lock()
		kept = append(kept, make([]byte, 16<<10))
		keptMu.Unlock()
		return c.Send("ok")
	})
	running := bottest.Run(t, bot)
	defer func() {
		close(release) // before Run's own check at stop
		if err := running.Stop(); err != nil {
			t.Error(err)
		}
	}()

	// Updates flow while the page is open: at most 3,000 (47 MiB kept),
	// one every 10 ms.
	feed, stopFeed := context.WithCancel(ctx)
	var fed sync.WaitGroup
	defer func() { stopFeed(); fed.Wait() }()
	// One send in 20 answered 429 (no flood control: the handler fails).
	if err := srv.SetFaultRate("sendMessage", 0.05, tgtest.Fault{Kind: tgtest.FaultTooMany}); err != nil {
		t.Fatal(err)
	}
	alice := srv.NewUser("Alice")
	if _, err := alice.Command("leak", ""); err != nil {
		t.Fatal(err)
	}
	fed.Go(func() {
		for i := 0; i < 3000 && feed.Err() == nil; i++ {
			if _, err := alice.Send(fmt.Sprint("m", i)); err != nil {
				t.Errorf("send: %v", err)
				return
			}
			select {
			case <-feed.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	})

	// Without the token: 401, for the page and for its data.
	for _, path := range []string{"/debug/", "/debug/state"} {
		if code, _, body := get(t, base+path, ""); code != 401 {
			t.Errorf("GET %s without the token: %d, want 401: %.200s", path, code, body)
		}
	}

	b := startBrowser(t, ctx)
	if err := chromedp.Do(b, chromedp.EmulateViewport(1280, 1000)); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.Run(b, chromedp.NavigateResponse(base+"/debug/"))
	if err != nil || resp.Status != 401 {
		t.Fatalf("the page without the token: %+v, %v; want a 401", resp, err)
	}
	waitJS(t, b, "the sign-in page without the token",
		`document.body.dataset.page === "signin" && !document.getElementById("charts")`, `document.body.innerText`)
	if err := chromedp.Do(b, chromedp.Navigate(base+"/debug/#token=wrong")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, b, "a wrong token refused", `document.body.dataset.signin === "refused"`, `document.body.innerText`)

	if err := chromedp.Do(b, chromedp.Navigate(base+"/debug/#token="+token)); err != nil {
		t.Fatal(err)
	}
	minPoints := 30 // 3 s of samples
	if os.Getenv("TIDYGRAM_OPS_SCREENSHOT") != "" {
		minPoints = 150 // a picture for the documentation: 15 s
	}
	waitJS(t, b, fmt.Sprintf("every chart with %d points", minPoints), fmt.Sprintf(`document.body.dataset.page === "ops" &&
		["goroutines", "heap", "updates", "latency", "api", "spool"].every(c =>
			+(document.getElementById("chart-" + c).dataset.points || 0) >= %d)`, minPoints),
		`JSON.stringify([...document.querySelectorAll(".chart")].map(f => [f.id, f.dataset.points, f.dataset.series]))`)
	waitJS(t, b, "429s charted", `+document.querySelector('#chart-api polyline[data-name="429"]').dataset.max > 0`,
		`document.getElementById("chart-api").innerHTML`)
	waitJS(t, b, "the leaking handler's goroutine charted under its owner",
		`document.getElementById("chart-goroutines").dataset.series.split("|").includes("handler /leak")`,
		`document.getElementById("chart-goroutines").dataset.series`)
	waitJS(t, b, "the planted leak and the heap alarm in the findings table", `
		!!document.querySelector('#findings tr[data-kind="leak"][data-owner="handler /leak"]') &&
		!!document.querySelector('#findings tr[data-kind="alarm"][data-owner="heap_live_bytes"]')`,
		`document.getElementById("findings").innerText`)
	waitJS(t, b, "the kept heap shown as sustained growth", `document.getElementById("heap-trend").textContent.includes("sustained growth")`,
		`document.getElementById("heap-trend").textContent`)
	waitJS(t, b, "the address bar without the token", `!location.href.includes("token")`, `location.href`)
	screenshot(t, b)

	if logged, err := os.ReadFile(logs.Name()); err != nil || bytes.Contains(logged, []byte(token)) {
		t.Errorf("the ops server's log (%v) holds the token:\n%s", err, logged)
	}
}
