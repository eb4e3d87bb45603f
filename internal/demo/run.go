package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/ops"
	"github.com/tidygram/tidygram/tgtest"
)

// Defaults of Config.
const (
	DefaultDuration  = 20 * time.Second
	DefaultFaultFrom = 0.35 // the fault phase starts at 35% of the duration…
	DefaultFaultTo   = 0.65 // …and ends at 65%
	DefaultSettle    = 30 * time.Second
	// LeakGrace is how long the demo bot's per-update leak check lets an
	// update's goroutines outlive its handler (the runtime's default is
	// 30 s, longer than a demo).
	LeakGrace = 2 * time.Second
)

// Config configures Run. Zero fields take the defaults.
type Config struct {
	Duration time.Duration // how long users act (DefaultDuration)
	Load     LoadConfig    // the simulated users (Scenario is always ScenarioDemo)
	Faults   []FaultRule   // injected during the fault phase (none: no fault phase)
	// FaultFrom and FaultTo bound the fault phase, as fractions of
	// Duration (DefaultFaultFrom, DefaultFaultTo).
	FaultFrom, FaultTo float64
	Seed               uint64 // seeds the users and the emulator's faults
	OpsAddr            string // listen address of the ops server ("127.0.0.1:0": a free port)
	// Keep leaves the emulator, the bot and the ops server running after
	// the report until ctx ends.
	Keep bool
	// Out receives the report; Progress (if not nil) the live line. When
	// ProgressWidth (the terminal's columns) is set, the line rewrites
	// itself, cut to that width; otherwise it is printed once a second.
	Out, Progress io.Writer
	ProgressWidth int
	// Log receives the bot's and ops server's log at Error level (failed
	// polls are Warnings, counted in the report instead); default
	// Progress, io.Discard when both are nil.
	Log io.Writer
	// Settle bounds the wait, after the users stopped, for the bot to
	// handle every update they sent (DefaultSettle).
	Settle time.Duration
}

func (c Config) withDefaults() Config {
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.FaultFrom <= 0 && c.FaultTo <= 0 {
		c.FaultFrom, c.FaultTo = DefaultFaultFrom, DefaultFaultTo
	}
	if c.OpsAddr == "" {
		c.OpsAddr = "127.0.0.1:0"
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Progress != nil {
		same := c.Log == nil || c.Log == c.Progress
		c.Progress = &lockedWriter{w: c.Progress}
		if same {
			c.Log = c.Progress
		}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	c.Load.Scenario = ScenarioDemo
	c.Load.Seed = c.Seed
	c.Load = c.Load.withDefaults()
	return c
}

// Report is what a demo run measured.
type Report struct {
	Duration    time.Duration // users acted this long
	Users       int
	Faults      string // the spec injected in the fault phase ("" for none)
	FaultPhase  [2]time.Duration
	Interrupted bool // ctx ended before the users were done

	Load     LoadStats
	Bot      BotStats
	Emulator tgtest.Counters // at the end of the run
	Pending  int             // updates the emulator still held unconfirmed after the bot stopped
	RunErr   error           // what the bot's Run returned

	Lost int64 // updates the users sent that no handler ran for

	GoroutinesBefore, GoroutinesPeak, GoroutinesAfter int
	HeapPeak                                          uint64 // bytes of heap objects, sampled every 100 ms

	// OpsURL and OpsToken are the ops server's base URL and bearer
	// token; the report prints them only when the run is kept (Keep):
	// otherwise the server is gone by then.
	OpsURL, OpsToken string
}

// problems collects the broken promises of a run for Problems.
type problems []string

// add records the problem format describes unless ok.
func (p *problems) add(ok bool, format string, args ...any) {
	if !ok {
		*p = append(*p, fmt.Sprintf(format, args...))
	}
}

// OK reports whether the run kept every promise: nothing lost, nothing
// handled twice, every reply right, every update confirmed, Run clean and
// no goroutine left.
func (r *Report) OK() bool { return len(r.Problems()) == 0 }

// Problems lists the broken promises.
func (r *Report) Problems() []string {
	var p problems
	add := p.add
	add(r.Lost == 0, "%d updates lost", r.Lost)
	add(r.Bot.HandledTwice == 0, "%d updates handled twice", r.Bot.HandledTwice)
	add(r.Bot.Leaked == 0, "%d goroutines outlived their update", r.Bot.Leaked)
	add(r.Load.Wrong == 0, "%d wrong replies", r.Load.Wrong)
	add(r.Load.Missing == 0, "%d missing replies", r.Load.Missing)
	add(r.Load.Refused == 0, "%d updates refused by the emulator", r.Load.Refused)
	add(r.Pending == 0, "%d updates never confirmed", r.Pending)
	add(r.RunErr == nil, "bot.Run: %v", r.RunErr)
	add(r.GoroutinesAfter <= r.GoroutinesBefore, "%d goroutines left (%d before, %d after)",
		r.GoroutinesAfter-r.GoroutinesBefore, r.GoroutinesBefore, r.GoroutinesAfter)
	return p
}

// Run runs the demo: an emulator, the demo bot with an ops server, and
// simulated users for cfg.Duration with a fault phase in the middle; then
// it waits for the bot to handle everything, stops it, checks that no
// goroutine is left and returns the report (also written to cfg.Out).
// When ctx ends early the users stop at once and the report is marked
// interrupted. Run blocks until everything it started has ended.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	rep := &Report{Duration: cfg.Duration, Users: cfg.Load.Users, GoroutinesBefore: runtime.NumGoroutine()}
	if len(cfg.Faults) > 0 {
		rep.Faults = FormatFaults(cfg.Faults)
		rep.FaultPhase = [2]time.Duration{
			time.Duration(cfg.FaultFrom * float64(cfg.Duration)),
			time.Duration(cfg.FaultTo * float64(cfg.Duration)),
		}
	}

	srv, err := tgtest.New(tgtest.WithSeed(cfg.Seed))
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.OpsAddr)
	if err != nil {
		return nil, fmt.Errorf("ops server: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(cfg.Log, &slog.HandlerOptions{Level: slog.LevelError}))
	rep.OpsToken = randomToken()
	rep.OpsURL = "http://" + ln.Addr().String()
	m := ops.NewMetrics()
	opsSrv := ops.New(ops.WithMetrics(m), ops.WithToken(rep.OpsToken), ops.WithLogger(logger))

	rec := &Recorder{}
	bot, err := NewBot(srv.Token(),
		tidygram.WithBaseURL(srv.URL()),
		tidygram.WithObserver(rec),
		tidygram.WithLeakCheck(LeakGrace),
		tidygram.WithObserver(m),
		tidygram.WithPollTimeout(10*time.Second),
		tidygram.WithBackoff(50*time.Millisecond, 2*time.Second),
		tidygram.WithLogger(logger),
		tidygram.WithErrorHandler(func(*tidygram.Context, error) {}), // counted by the Recorder
		tidygram.WithStrictLeaks(),
		tidygram.WithService("ops", func(ctx context.Context) error { return opsSrv.Serve(ctx, ln) }),
	)
	if err != nil {
		ln.Close()
		return nil, err
	}
	botCtx, stopBot := context.WithCancel(context.Background())
	defer stopBot()
	runDone := make(chan error, 1)
	go func() { runDone <- bot.Run(botCtx) }()
	for bot.Me() == nil {
		select {
		case err := <-runDone:
			return nil, fmt.Errorf("bot did not start: %w", err)
		case <-time.After(5 * time.Millisecond):
		}
	}

	load := NewLoad(srv, cfg.Load)
	mon := &monitor{cfg: cfg, srv: srv, rec: rec, load: load, start: time.Now()}
	monCtx, stopMon := context.WithCancel(context.Background())
	var monWG sync.WaitGroup
	monWG.Go(func() { mon.run(monCtx) })

	stopUsers := make(chan struct{})
	var loadWG sync.WaitGroup
	loadWG.Go(func() { load.Run(ctx, stopUsers) })
	rep.Interrupted = !conduct(ctx, cfg, srv, mon, rep.FaultPhase)
	close(stopUsers)
	loadWG.Wait()
	srv.ClearFaults()

	// Every update the users sent must be handled.
	sent := load.Stats().Updates
	settle := time.Now().Add(cfg.Settle)
	for rec.Stats().Handled < sent && time.Now().Before(settle) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stopMon()
	monWG.Wait()
	mon.finish()

	rep.Load = load.Stats()
	rep.Bot = rec.Stats()
	rep.Lost = max(rep.Load.Updates-rep.Bot.Handled, 0)
	if cfg.Keep && ctx.Err() == nil {
		rep.Emulator = srv.Counters()
		rep.GoroutinesPeak, rep.HeapPeak = mon.peaks()
		rep.write(cfg.Out, false)
		rep.writeKept(cfg.Out)
		<-ctx.Done()
	}

	stopBot()
	rep.RunErr = <-runDone
	rep.Pending = srv.Pending()
	rep.Emulator = srv.Counters()
	srv.Close()
	rep.GoroutinesPeak, rep.HeapPeak = mon.peaks()
	rep.GoroutinesAfter = settleGoroutines(rep.GoroutinesBefore, 5*time.Second)
	if cfg.Keep && !rep.Interrupted {
		fmt.Fprintf(cfg.Out, "\nStopped: bot.Run returned %v; updates unconfirmed %d; goroutines before %d, after %d.\n",
			rep.RunErr, rep.Pending, rep.GoroutinesBefore, rep.GoroutinesAfter)
		rep.verdict(cfg.Out)
	} else {
		rep.WriteText(cfg.Out)
	}
	return rep, nil
}

// conduct runs the schedule: users act for cfg.Duration with the fault
// phase in between. It returns false if ctx ended first.
func conduct(ctx context.Context, cfg Config, srv *tgtest.Server, mon *monitor, phase [2]time.Duration) bool {
	start := time.Now()
	wait := func(until time.Duration) bool {
		t := time.NewTimer(time.Until(start.Add(until)))
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if len(cfg.Faults) > 0 {
		if !wait(phase[0]) {
			return false
		}
		if err := ApplyFaults(srv, cfg.Faults); err != nil { // checked by ParseFaults: cannot fail
			panic(err)
		}
		mon.phase.Store("faults")
		if !wait(phase[1]) {
			return false
		}
		srv.ClearFaults()
		mon.phase.Store("calm")
	}
	if !wait(cfg.Duration) {
		return false
	}
	mon.phase.Store("settling")
	return true
}

// settleGoroutines waits up to d for the goroutine count to come back to
// want (goroutines that ended a moment ago may still be unwinding) and
// returns the count.
func settleGoroutines(want int, d time.Duration) int {
	deadline := time.Now().Add(d)
	n := runtime.NumGoroutine()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// HeapBytes returns the bytes of live and not yet swept heap objects.
func HeapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// monitor samples the process and prints the live progress line.
type monitor struct {
	cfg   Config
	srv   *tgtest.Server
	rec   *Recorder
	load  *Load
	start time.Time
	phase atomic.Value // string

	mu         sync.Mutex
	peakG      int
	peakHeap   uint64
	lastHist   HistSnapshot
	lastHandle int64
	lastTick   time.Time
	printed    bool
}

func (m *monitor) peaks() (int, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peakG, m.peakHeap
}

func (m *monitor) sample() {
	g, h := runtime.NumGoroutine(), HeapBytes()
	m.mu.Lock()
	m.peakG, m.peakHeap = max(m.peakG, g), max(m.peakHeap, h)
	m.mu.Unlock()
}

func (m *monitor) run(ctx context.Context) {
	if m.phase.Load() == nil {
		m.phase.Store("warm-up")
		if len(m.cfg.Faults) == 0 {
			m.phase.Store("running")
		}
	}
	m.lastTick = time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.sample()
		if n%10 == 0 && m.cfg.Progress != nil {
			m.print()
		}
	}
}

func (m *monitor) print() {
	now := time.Now()
	hist := m.rec.Latency.Snapshot()
	bs := m.rec.Stats()
	ls := m.load.Stats()
	m.mu.Lock()
	win := hist.Sub(m.lastHist)
	rate := float64(bs.Handled-m.lastHandle) / now.Sub(m.lastTick).Seconds()
	m.lastHist, m.lastHandle, m.lastTick = hist, bs.Handled, now
	m.printed = true
	m.mu.Unlock()
	line := fmt.Sprintf("%3.0fs/%v %-8s %4.0f upd/s  handler p50/p99 %s/%s  goroutines %d  heap %.1f MiB  429s %d  replies %d ok %d bad",
		now.Sub(m.start).Seconds(), m.cfg.Duration, m.phase.Load(), rate,
		FormatDuration(win.Quantile(0.5)), FormatDuration(win.Quantile(0.99)),
		runtime.NumGoroutine(), float64(HeapBytes())/(1<<20), m.srv.Counters().Requests429(),
		ls.Correct, ls.Wrong+ls.Missing)
	if w := m.cfg.ProgressWidth; w > 0 {
		if r := []rune(line); len(r) >= w {
			line = string(r[:w-1])
		}
		fmt.Fprintf(m.cfg.Progress, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(m.cfg.Progress, line)
	}
}

// finish ends the live line.
func (m *monitor) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.printed && m.cfg.ProgressWidth > 0 {
		fmt.Fprintln(m.cfg.Progress)
	}
}

// FormatDuration prints d with about three significant digits ("-" for 0).
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// WriteText writes the report for people, with its verdict.
func (r *Report) WriteText(w io.Writer) {
	r.write(w, true)
	r.verdict(w)
}

// write writes the figures; stopped says whether the bot has stopped (the
// goroutine count after it is known).
func (r *Report) write(w io.Writer, stopped bool) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("tidygram demo: %d users for %v%s", r.Users, r.Duration, map[bool]string{true: " (interrupted)"}[r.Interrupted])
	if r.Faults != "" {
		p("  faults from %v to %v: %s", r.FaultPhase[0].Round(time.Second), r.FaultPhase[1].Round(time.Second), r.Faults)
	} else {
		p("  faults: none")
	}
	p("")
	p("  updates sent by users     %d", r.Load.Updates)
	p("  handled                   %d", r.Bot.Handled)
	p("  lost                      %d", r.Lost)
	p("  handled twice             %d", r.Bot.HandledTwice)
	p("  fetched again, skipped    %d times for %d updates sent: expected, none handled twice", r.Emulator.UpdatesRedelivered, r.Load.Updates)
	p("                            (getUpdates confirms by offset, and the bot's offset stays at the")
	p("                            lowest update not yet handled, so a poll returns again the updates")
	p("                            still being handled, and those of an answer a fault spoiled; the")
	p("                            bot skips by update_id every one it already holds)")
	p("  replies checked correct   %d of %d (wrong %d, missing %d)", r.Load.Correct, r.Load.Checked, r.Load.Wrong, r.Load.Missing)
	p("  reply latency (users)     p50 %s  p99 %s", FormatDuration(r.Load.Latency.Quantile(0.5)), FormatDuration(r.Load.Latency.Quantile(0.99)))
	p("  handler time              p50 %s  p99 %s  (includes waits for the per-chat flood limit)", FormatDuration(r.Bot.Latency.Quantile(0.5)), FormatDuration(r.Bot.Latency.Quantile(0.99)))
	p("  handler errors            %d", r.Bot.Errors)
	p("  leaked by handlers        %d goroutines (per-update leak check, %v grace)", r.Bot.Leaked, LeakGrace)
	var polls int64
	for _, n := range r.Emulator.Requests["getUpdates"] {
		polls += n
	}
	p("  polls                     %d getUpdates calls, %d failed", polls, r.Bot.PollErrors)
	p("  faults injected           %s", FormatFaultCounts(r.Emulator.Faults))
	p("  429 answers               %d", r.Emulator.Requests429())
	if stopped {
		p("  updates unconfirmed       %d (after the bot stopped)", r.Pending)
		p("  goroutines                before %d, peak %d, after %d", r.GoroutinesBefore, r.GoroutinesPeak, r.GoroutinesAfter)
	} else {
		p("  goroutines                before %d, peak %d (after: once stopped)", r.GoroutinesBefore, r.GoroutinesPeak)
	}
	p("  peak heap                 %.1f MiB", float64(r.HeapPeak)/(1<<20))
	for _, n := range r.Load.Notes {
		p("  ! %s", n)
	}
	for _, n := range r.Bot.ErrorNotes {
		p("  ! handler error: %s", n)
	}
}

// writeKept tells where the ops server of a run kept alive (--keep) is and
// how to pass its token.
func (r *Report) writeKept(w io.Writer) {
	fmt.Fprintf(w, `
Still running (--keep): the bot, the emulator and the ops server, until Ctrl-C.
  ops page   %[1]s/debug/
  token      %[2]s
             in a browser, open %[1]s/debug/#token=%[2]s
             (the page trades it for a cookie); other clients send it as a header:
             curl -H 'Authorization: Bearer %[2]s' %[1]s/debug/goroutines
  metrics    %[1]s/metrics (no token)
Press Ctrl-C to stop.
`, r.OpsURL, r.OpsToken)
}

func (r *Report) verdict(w io.Writer) {
	if r.Interrupted {
		fmt.Fprintln(w, "\nInterrupted: no verdict.")
		return
	}
	if probs := r.Problems(); len(probs) > 0 {
		fmt.Fprintf(w, "\nFAIL: %s\n", strings.Join(probs, "; "))
		return
	}
	fmt.Fprintln(w, "\nOK: nothing lost, nothing handled twice, every reply right, no goroutine left.")
}

// FormatFaultCounts lists injected faults by kind ("502 ×3, cut ×1").
func FormatFaultCounts(f map[tgtest.FaultKind]int64) string {
	if len(f) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s ×%d", k, f[tgtest.FaultKind(k)])
	}
	return b.String()
}

// lockedWriter serialises writes of the progress line and the log.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
