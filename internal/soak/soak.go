// Package soak runs a bot — any program, in any language, that reads
// TELEGRAM_API_URL and TELEGRAM_TOKEN, or tidygram's demo bot in this
// process — against the Bot API emulator with simulated users and faults
// for a long time, samples the bot's resources, checks that every user got
// their reply, and fits the growth of goroutines, heap, RSS, open files
// and threads over the second half of the run. The result is a Markdown
// report, an SVG chart and a verdict.
//
// With an ops server (Config.OpsURL and OpsToken), or in process, it also
// takes a heap profile at the start of the fitted window and one at the
// end of the load and compares them by allocation site (package
// leak/heap): the report lists the sites that grew, with their handlers,
// and a failing heap trend names them.
//
// soak owns the bot process it starts (its process group is sent SIGTERM
// at the end, SIGKILL after StopTimeout), the emulator, the users and its
// sampler: Run returns only after all of them ended. It reads /proc, so
// process figures are Linux only; it never reads the bot's memory.
package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/internal/demo"
	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/heap"
	"github.com/tidygram/tidygram/tgtest"
)

// Defaults of Config.
const (
	DefaultDuration     = 10 * time.Minute
	DefaultUsers        = 200
	DefaultStartTimeout = 2 * time.Minute // "go run" compiles first
	DefaultStopTimeout  = 10 * time.Second
)

// DefaultFaults is the fault spec of --faults default: the kinds of
// demo.DefaultFaultSpec at a tenth of its rates, since a soak injects them
// for the whole run rather than in a short phase.
const DefaultFaults = "getUpdates:502:0.02,getUpdates:hang:0.01:2s,getUpdates:429:0.01:1," +
	"getUpdates:cut:0.015,sendMessage:429:0.001:1,getFile:502:0.01"

// Environment variables the bot reads.
const (
	EnvAPIURL = "TELEGRAM_API_URL" // base URL of the Bot API (the emulator)
	EnvToken  = "TELEGRAM_TOKEN"   // the bot token the emulator accepts
)

// Config configures a soak run. Zero fields take the defaults.
type Config struct {
	// Command is the bot, run with "sh -c" in its own process group with
	// TELEGRAM_API_URL and TELEGRAM_TOKEN added to the environment. Its
	// output goes to bot.log in OutDir. Exactly one of Command and
	// InProcess must be set.
	Command string
	// InProcess runs tidygram's demo bot in this process instead; the
	// process figures then include the emulator and the users. The
	// emulator's bounded caches (100 messages per chat, 10,000 remembered
	// callback queries) fill during the first minutes: give a run of a few
	// hundred users at least 10 minutes so they are full by the second half.
	InProcess bool
	// OpsURL is the bot's ops server (base URL or its /metrics URL):
	// goroutines and live heap are read from its Prometheus metrics. Without
	// it they are measured only in process mode. With OpsToken (its
	// /debug/ token) its heap profiles are read too.
	OpsURL   string
	OpsToken string
	Duration time.Duration // load time (DefaultDuration); trends are fitted over its second half
	// Load configures the users. Defaults: DefaultUsers users; scenario
	// "any" for a command (every message must get a reply), "demo" in
	// process (every reply checked exactly).
	Load       demo.LoadConfig
	Faults     []demo.FaultRule // injected for the whole run
	Interval   time.Duration    // sampling interval (Duration/300, within 100 ms–5 s)
	Thresholds Thresholds
	// OutDir receives report.md, chart.svg and bot.log; empty: a new
	// directory under os.TempDir (Result.OutDir names it).
	OutDir string
	// StartTimeout bounds the wait for the bot's first Bot API call
	// (DefaultStartTimeout); StopTimeout the wait for it to exit after
	// SIGTERM before SIGKILL (DefaultStopTimeout).
	StartTimeout, StopTimeout time.Duration
	Seed                      uint64
	Progress                  io.Writer // a status line now and then (nil: none)
}

func (c Config) withDefaults() Config {
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Load.Users <= 0 {
		c.Load.Users = DefaultUsers
	}
	if c.Load.Scenario == "" {
		c.Load.Scenario = demo.ScenarioAny
		if c.InProcess {
			c.Load.Scenario = demo.ScenarioDemo
		}
	}
	c.Load.Seed = c.Seed
	if c.Interval <= 0 {
		c.Interval = min(max(c.Duration/300, 100*time.Millisecond), 5*time.Second)
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.OpsURL != "" && !strings.HasSuffix(c.OpsURL, "/metrics") {
		c.OpsURL = strings.TrimSuffix(c.OpsURL, "/") + "/metrics"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Result is what a soak run measured.
type Result struct {
	Bot         string // the command, or "demo bot (in process)"
	Duration    time.Duration
	Interval    time.Duration
	Faults      string
	Thresholds  Thresholds
	Samples     []Sample
	Trends      []Trend
	Load        demo.LoadStats
	BotStats    *demo.BotStats // in process only
	Emulator    tgtest.Counters
	Pending     int    // updates unconfirmed after the bot stopped
	Exit        string // how the bot ended
	Interrupted bool   // ctx ended before Duration
	Problems    []string
	// Heap compares the heap profiles taken at the start of the fitted
	// window and at the end of the load, by site (in process, profiles of
	// this process: the emulator and the users included); HeapNote says
	// why it is nil.
	Heap       *heap.Diff
	HeapNote   string
	OutDir     string
	ReportPath string
	ChartPath  string
	LogPath    string // the bot's output (command mode)
}

// OK reports whether the bot passed: every reply came and was right, no
// trend over its threshold, and the bot ran to the end.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// ErrConfig is wrapped by errors about a Config that cannot run.
var ErrConfig = errors.New("soak: bad configuration")

// bot is the soaked bot, whichever way it runs.
type bot interface {
	pid() int
	exited() <-chan struct{} // closed when the bot ended on its own or was stopped
	// stop stops the bot (at most once) and says how it ended; clean is
	// false when it had to be killed or its Run failed.
	stop(timeout time.Duration) (how string, clean bool)
}

// Run soaks the bot described by cfg and writes the report and the chart
// into cfg.OutDir. It returns an error only when the run could not happen
// (bad config, the bot did not start); a bot that fails the soak yields a
// Result with Problems. When ctx ends early the run stops, the report is
// written and marked interrupted. Run blocks until the bot, the emulator,
// the users and the sampler have ended.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if (cfg.Command == "") == !cfg.InProcess {
		return nil, fmt.Errorf("%w: give either a bot command or in-process mode", ErrConfig)
	}
	cfg = cfg.withDefaults()
	res := &Result{Duration: cfg.Duration, Interval: cfg.Interval, Faults: demo.FormatFaults(cfg.Faults),
		Thresholds: cfg.Thresholds.withDefaults(), Bot: cfg.Command}
	if cfg.InProcess {
		res.Bot = "tidygram demo bot (in process)"
	}
	if cfg.OutDir == "" {
		dir, err := os.MkdirTemp("", "tidygram-soak-")
		if err != nil {
			return nil, err
		}
		cfg.OutDir = dir
	} else if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	res.OutDir = cfg.OutDir
	fmt.Fprintf(cfg.Progress, "soak: writing the report to %s\n", cfg.OutDir)
	srv, err := tgtest.New(tgtest.WithSeed(cfg.Seed))
	if err != nil {
		return nil, err
	}
	defer srv.Close()

	var b bot
	var rec *demo.Recorder
	if cfg.InProcess {
		rec = &demo.Recorder{}
		b, err = startInProcess(srv, rec)
	} else {
		res.LogPath = filepath.Join(cfg.OutDir, "bot.log")
		b, err = startCommand(cfg.Command, srv, res.LogPath)
	}
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			b.stop(cfg.StopTimeout)
		}
	}()
	if err := waitReady(ctx, srv, b, cfg.StartTimeout); err != nil {
		res.Exit, _ = b.stop(cfg.StopTimeout)
		stopped = true
		if res.LogPath != "" {
			return nil, fmt.Errorf("%w (bot %s; its output is in %s)", err, res.Exit, res.LogPath)
		}
		return nil, fmt.Errorf("%w (bot %s)", err, res.Exit)
	}
	if err := demo.ApplyFaults(srv, cfg.Faults); err != nil {
		return nil, err
	}

	smp := &sampler{pid: b.pid(), inProcess: cfg.InProcess, opsURL: cfg.OpsURL,
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}}
	defer smp.client.CloseIdleConnections()
	load := demo.NewLoad(srv, cfg.Load)
	start := time.Now()
	smp.start = start
	sctx, stopSampler := context.WithCancel(context.Background())
	lctx, abandonWaits := context.WithCancel(ctx) // when the bot is gone, replies will not come
	defer abandonWaits()
	stopUsers := make(chan struct{})
	var smpWG, loadWG sync.WaitGroup
	smpWG.Go(func() { smp.run(sctx, cfg.Interval) })
	loadWG.Go(func() { load.Run(lctx, stopUsers) })

	timer := time.NewTimer(cfg.Duration)
	half := time.NewTimer(cfg.Duration / 2)
	defer half.Stop()
	status := time.NewTicker(min(max(cfg.Duration/20, time.Second), 30*time.Second))
	early := ""
	heapOf := heapSource(cfg, smp.client)
	var heapFirst *heapShot
wait:
	for {
		select {
		case <-timer.C:
			break wait
		case <-half.C:
			if heapOf != nil {
				heapFirst, res.HeapNote = takeHeap(ctx, heapOf, "at the start of the fitted window")
			}
		case <-ctx.Done():
			res.Interrupted = true
			break wait
		case <-b.exited():
			early = "the bot exited before the end of the run"
			abandonWaits()
			break wait
		case <-status.C:
			fmt.Fprintln(cfg.Progress, statusLine(time.Since(start), cfg.Duration, load.Stats(), smp.last()))
		}
	}
	timer.Stop()
	status.Stop()
	close(stopUsers)
	srv.ClearFaults()
	// Users finish their actions in progress; the sampler keeps sampling
	// meanwhile, so the end of the load is in the chart.
	loadWG.Wait()
	stopSampler()
	smpWG.Wait()
	switch {
	case heapOf == nil:
		res.HeapNote = "no heap profiles: give --ops with --ops-token (or run --in-process)"
	case heapFirst != nil:
		var last *heapShot
		if last, res.HeapNote = takeHeap(ctx, heapOf, "at the end of the load"); last != nil {
			res.Heap, res.HeapNote = compareHeap(heapFirst, last)
		}
	case res.HeapNote == "":
		res.HeapNote = "the run ended before the fitted window started"
	}

	if rec != nil {
		sent := load.Stats().Updates
		for deadline := time.Now().Add(30 * time.Second); rec.Stats().Handled < sent && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	var clean bool
	res.Exit, clean = b.stop(cfg.StopTimeout)
	stopped = true
	if !clean && early == "" {
		early = "the bot did not stop cleanly"
	}
	res.Pending = srv.Pending()
	res.Emulator = srv.Counters()
	res.Load = load.Stats()
	if rec != nil {
		bs := rec.Stats()
		res.BotStats = &bs
	}
	res.Samples = smp.all()
	res.Trends = Trends(res.Samples, cfg.Duration/2, cfg.Duration, cfg.Thresholds)
	res.Problems = problems(res, early)

	res.ReportPath = filepath.Join(cfg.OutDir, "report.md")
	res.ChartPath = filepath.Join(cfg.OutDir, "chart.svg")
	if err := writeFile(res.ChartPath, func(w io.Writer) error {
		return WriteSVG(w, "tidygram soak: "+res.Bot, res.Samples, res.Trends, cfg.Duration/2, cfg.Duration)
	}); err != nil {
		return res, err
	}
	if err := writeFile(res.ReportPath, func(w io.Writer) error { return WriteMarkdown(w, res) }); err != nil {
		return res, err
	}
	return res, nil
}

// heapShot is a heap profile of the bot and the runtime's figures at the
// time: this process's MemStats in process, the ops server's /metrics
// otherwise (nil when it could not be read).
type heapShot struct {
	profile, metrics []byte
	rt               heap.Runtime
	routes           []byte // the ops server's /debug/routes (nil: none)
}

// heapSource returns how the bot's heap profiles are read: from this
// process in process mode, from the ops server with its token, or nil.
func heapSource(cfg Config, client *http.Client) func(context.Context) (heapShot, error) {
	switch {
	case cfg.InProcess:
		return func(context.Context) (heapShot, error) {
			runtime.GC() // in-use as of now, as ?gc=1 gives it
			data, err := leak.HeapProfile()
			return heapShot{profile: data, rt: heap.MemStats()}, err
		}
	case cfg.OpsURL != "" && cfg.OpsToken != "":
		base := strings.TrimSuffix(cfg.OpsURL, "/metrics")
		return func(ctx context.Context) (heapShot, error) {
			data, err := heap.Fetch(ctx, client, base+"/debug/pprof/heap?gc=1", cfg.OpsToken)
			if err != nil {
				return heapShot{}, err
			}
			metrics, _ := heap.Fetch(ctx, client, base+"/metrics", cfg.OpsToken)     // the figures are a cross-check: optional
			routes, _ := heap.Fetch(ctx, client, base+"/debug/routes", cfg.OpsToken) // names the sites' routes: optional
			return heapShot{profile: data, metrics: metrics, routes: routes}, nil
		}
	}
	return nil
}

// takeHeap reads a heap profile within 30 s, or says why it could not.
func takeHeap(ctx context.Context, from func(context.Context) (heapShot, error), when string) (*heapShot, string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	shot, err := from(ctx)
	if err != nil {
		return nil, fmt.Sprintf("no heap profile %s: %v", when, err)
	}
	return &shot, ""
}

// compareHeap compares two heap profiles by site, with the runtime's
// figures beside them and the routes the ops server named, when it did.
func compareHeap(shots ...*heapShot) (*heap.Diff, string) {
	var opts []heap.Option
	if last := shots[len(shots)-1]; last.routes != nil {
		if opt, err := heap.ServerRoutes(last.routes); err == nil {
			opts = append(opts, opt)
		}
	}
	s, err := heap.NewSeries(opts...)
	if err != nil {
		return nil, err.Error()
	}
	for _, shot := range shots {
		p, err := heap.Parse(shot.profile)
		if err != nil {
			return nil, err.Error()
		}
		rt := shot.rt
		if shot.metrics != nil {
			rt, _ = heap.ReadMetrics(bytes.NewReader(shot.metrics), p)
		}
		s.Add(p, rt)
	}
	d, err := s.Diff()
	if err != nil {
		return nil, err.Error()
	}
	return d, ""
}

// waitReady waits for the bot's first Bot API call.
func waitReady(ctx context.Context, srv *tgtest.Server, b bot, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for method := range srv.Counters().Requests {
			if method != "unknown" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.exited():
			return errors.New("soak: the bot exited before its first Bot API call")
		case <-deadline.C:
			return fmt.Errorf("soak: no Bot API call from the bot within %v", timeout)
		case <-tick.C:
		}
	}
}

// commandBot is a bot process started with sh -c in its own process group.
type commandBot struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // Wait's, once done is closed
}

func startCommand(command string, srv *tgtest.Server, logPath string) (*commandBot, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("sh", "-c", command)
	cmd.Env = append(os.Environ(), EnvAPIURL+"="+srv.URL(), EnvToken+"="+srv.Token())
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("soak: start the bot: %w", err)
	}
	b := &commandBot{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { // ends when the process exits; stop makes sure it does
		b.err = cmd.Wait()
		close(b.done)
	}()
	return b, nil
}

func (b *commandBot) pid() int                { return b.cmd.Process.Pid }
func (b *commandBot) exited() <-chan struct{} { return b.done }

// stop sends SIGTERM to the bot's process group, then SIGKILL after
// timeout, and says how the bot ended.
func (b *commandBot) stop(timeout time.Duration) (string, bool) {
	defer b.log.Close()
	select {
	case <-b.done:
		return "exited on its own: " + exitText(b.err), true
	default:
	}
	pgid := b.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-b.done:
		return "stopped by SIGTERM: " + exitText(b.err), true
	case <-t.C:
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-b.done
	return fmt.Sprintf("did not exit within %v of SIGTERM; killed", timeout), false
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// inProcessBot is the demo bot run by this process.
type inProcessBot struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startInProcess(srv *tgtest.Server, rec *demo.Recorder) (*inProcessBot, error) {
	bot, err := demo.NewBot(srv.Token(),
		tidygram.WithBaseURL(srv.URL()),
		tidygram.WithObserver(rec),
		tidygram.WithLeakCheck(demo.LeakGrace),
		tidygram.WithPollTimeout(10*time.Second),
		tidygram.WithBackoff(50*time.Millisecond, 2*time.Second),
		tidygram.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		tidygram.WithErrorHandler(func(*tidygram.Context, error) {}), // counted by the Recorder
		tidygram.WithStrictLeaks(),
	)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &inProcessBot{cancel: cancel, done: make(chan struct{})}
	go func() {
		b.err = bot.Run(ctx)
		close(b.done)
	}()
	return b, nil
}

func (b *inProcessBot) pid() int                { return os.Getpid() }
func (b *inProcessBot) exited() <-chan struct{} { return b.done }

func (b *inProcessBot) stop(time.Duration) (string, bool) {
	b.cancel()
	<-b.done // Run has its own drain and leftover bounds
	if b.err != nil {
		return "Run returned " + b.err.Error(), false
	}
	return "Run returned nil", true
}

// sampler samples the bot at an interval.
type sampler struct {
	pid       int
	inProcess bool
	opsURL    string
	client    *http.Client
	start     time.Time

	mu      sync.Mutex
	samples []Sample
}

func (s *sampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	s.take(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.take(ctx)
		}
	}
}

func (s *sampler) take(ctx context.Context) {
	nan := math.NaN()
	smp := Sample{At: time.Since(s.start), Goroutines: nan, HeapBytes: nan, RSSBytes: nan, Threads: nan, FDs: nan}
	if st, err := ReadProc("/proc", s.pid); err == nil {
		smp.RSSBytes, smp.Threads, smp.FDs = float64(st.RSS), float64(st.Threads), float64(st.FDs)
	}
	switch {
	case s.inProcess:
		smp.Goroutines = float64(runtime.NumGoroutine())
		smp.HeapBytes = liveHeap()
	case s.opsURL != "":
		if g, h, err := scrape(ctx, s.client, s.opsURL); err == nil {
			smp.Goroutines, smp.HeapBytes = g, h
		}
	}
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
}

func (s *sampler) last() Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		nan := math.NaN()
		return Sample{Goroutines: nan, HeapBytes: nan, RSSBytes: nan, Threads: nan, FDs: nan}
	}
	return s.samples[len(s.samples)-1]
}

func (s *sampler) all() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// liveHeap returns this process's live heap as of the last GC.
func liveHeap() float64 {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return math.NaN()
	}
	return float64(m[0].Value.Uint64())
}

func statusLine(at, total time.Duration, ls demo.LoadStats, s Sample) string {
	return fmt.Sprintf("soak %v/%v: updates %d, replies ok %d wrong %d missing %d | goroutines %s heap %s MiB rss %s MiB fds %s threads %s",
		at.Round(time.Second), total, ls.Updates, ls.Correct, ls.Wrong, ls.Missing,
		fmtOpt(s.Goroutines, 1), fmtOpt(s.HeapBytes, 1<<20), fmtOpt(s.RSSBytes, 1<<20), fmtOpt(s.FDs, 1), fmtOpt(s.Threads, 1))
}

func fmtOpt(v, scale float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	return fmtNum(v / scale)
}

func problems(r *Result, early string) []string {
	var p []string
	if early != "" {
		p = append(p, early+" ("+r.Exit+")")
	}
	for _, t := range r.Trends {
		if !t.Failed {
			continue
		}
		msg := fmt.Sprintf("%s grow %.3g%s/min (limit %.3g/min)", t.Resource, t.Slope, unitSuffix(t.Unit), t.Limit)
		if t.Resource == "heap" && r.Heap != nil {
			var sites []string
			for _, g := range r.Heap.Growing() {
				sites = append(sites, fmt.Sprintf("%s %s", g.Where(), heap.FormatDelta(g.InuseDelta)))
			}
			if len(sites) == 0 {
				sites = append(sites, "no single site grew by 1 MiB")
			}
			msg += "; growing: " + strings.Join(sites, "; ")
		}
		p = append(p, msg)
	}
	if r.Load.Missing > 0 {
		p = append(p, fmt.Sprintf("%d replies missing", r.Load.Missing))
	}
	if r.Load.Wrong > 0 {
		p = append(p, fmt.Sprintf("%d replies wrong", r.Load.Wrong))
	}
	if r.Load.Refused > 0 {
		p = append(p, fmt.Sprintf("%d updates refused by the emulator", r.Load.Refused))
	}
	if r.Load.Updates == 0 {
		p = append(p, "no update was sent")
	}
	if b := r.BotStats; b != nil {
		if lost := r.Load.Updates - b.Handled; lost > 0 {
			p = append(p, fmt.Sprintf("%d updates lost", lost))
		}
		if b.HandledTwice > 0 {
			p = append(p, fmt.Sprintf("%d updates handled twice", b.HandledTwice))
		}
		if b.Leaked > 0 {
			p = append(p, fmt.Sprintf("%d goroutines outlived their update", b.Leaked))
		}
	}
	return p
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
