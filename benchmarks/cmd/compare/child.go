package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidygram/tidygram/benchmarks/internal/fakeapi"
	"github.com/tidygram/tidygram/benchmarks/internal/libs"
)

// childEnv names the environment variable that makes the binary run one
// library's bot (a childSpec in JSON) instead of the comparison.
const childEnv = "TIDYGRAM_BENCH_CHILD"

// childSpec is what the parent asks a child to do.
type childSpec struct {
	Lib          string        `json:"lib"`
	Mode         string        `json:"mode"` // poll, webhook, upload, download
	URL          string        `json:"url"`
	Token        string        `json:"token"`
	PollTimeout  time.Duration `json:"poll_timeout"`
	HandlerDelay time.Duration `json:"handler_delay,omitempty"`
	Warmup       int64         `json:"warmup,omitempty"`     // replies before the measured window starts
	Expect       int64         `json:"expect,omitempty"`     // emit "done" after this many replies after the warm-up
	StopAfter    int64         `json:"stop_after,omitempty"` // stop by itself after this many replies
	RecordIDs    bool          `json:"record_ids,omitempty"`
	Secret       string        `json:"secret,omitempty"`
	Path         string        `json:"path,omitempty"` // upload
	ChatID       int64         `json:"chat_id,omitempty"`
	FileID       string        `json:"file_id,omitempty"`     // download
	CPUProfile   string        `json:"cpu_profile,omitempty"` // write a CPU profile (and an allocation profile beside it, .allocs.pprof) of the run until "done"
	Probe        int64         `json:"probe,omitempty"`       // report whether the update with this id was handled
}

// event is one JSON line a child writes on stdout.
type event struct {
	Ev         string   `json:"ev"` // ready, done, stats, ids, stopped, ended, error
	Addr       string   `json:"addr,omitempty"`
	Handled    int64    `json:"handled"`
	Errors     int64    `json:"errors,omitempty"`
	ElapsedNS  int64    `json:"elapsed_ns,omitempty"`
	WarmNS     int64    `json:"warm_ns,omitempty"` // from start to the end of the warm-up
	CPUNS      int64    `json:"cpu_ns,omitempty"`
	Allocs     uint64   `json:"allocs,omitempty"`
	Bytes      uint64   `json:"bytes,omitempty"`
	Goroutines int      `json:"goroutines,omitempty"`
	RSS        int64    `json:"rss,omitempty"`
	HWM        int64    `json:"hwm,omitempty"`
	StopNS     int64    `json:"stop_ns,omitempty"`
	GoBase     int      `json:"go_base,omitempty"`
	GoReturn   int      `json:"go_return,omitempty"`
	GoAfter    int      `json:"go_after,omitempty"`
	Leftovers  []string `json:"leftovers,omitempty"`
	IDs        []int64  `json:"ids,omitempty"`
	FileID     string   `json:"file_id,omitempty"`
	Probe      bool     `json:"probe,omitempty"` // the update childSpec.Probe was handled
	N          int64    `json:"n,omitempty"`
	Err        string   `json:"err,omitempty"`
	// Server is the fake Bot API server's counters (event "server").
	Server *fakeapi.Stats `json:"server,omitempty"`
}

// settle is how long a child waits after its library's stop returned
// before it counts the goroutines left.
const settle = time.Second

var outMu sync.Mutex

func emit(e event) {
	b, _ := json.Marshal(e)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

// childMain runs the child described by the environment and exits.
func childMain(raw string) {
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "bad child spec:", err)
		os.Exit(2)
	}
	lib, err := libs.ByName(spec.Lib)
	if err != nil {
		emit(event{Ev: "error", Err: err.Error()})
		os.Exit(1)
	}
	switch spec.Mode {
	case "upload", "download":
		os.Exit(childFile(lib, spec))
	default:
		os.Exit(childBot(lib, spec))
	}
}

// procStatus reads VmRSS and VmHWM (bytes) from /proc/self/status.
func procStatus() (rss, hwm int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	return rss, hwm
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type sample struct {
	t      time.Time
	cpu    time.Duration
	allocs uint64
	bytes  uint64
}

func takeSample() sample {
	ms := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(ms)
	return sample{t: time.Now(), cpu: cpuTime(), allocs: ms[0].Value.Uint64(), bytes: ms[1].Value.Uint64()}
}

// goroutineGroups counts live goroutines by their entry function (the
// outermost frame outside the runtime and sync), which names their owner
// well enough (net/http.(*persistConn).readLoop, a library's poller, …).
func goroutineGroups() map[string]int {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 1)
	groups := map[string]int{}
	for rec := range strings.SplitSeq(buf.String(), "\n\n") {
		lines := strings.Split(strings.TrimSpace(rec), "\n")
		if len(lines) < 2 || strings.HasPrefix(lines[0], "goroutine profile:") && len(lines) < 3 {
			continue
		}
		if strings.HasPrefix(lines[0], "goroutine profile:") {
			lines = lines[1:]
		}
		count, err := strconv.Atoi(strings.Fields(lines[0])[0])
		if err != nil {
			continue
		}
		entry := ""
		for _, l := range lines[1:] {
			f := strings.Fields(l) // "#", pc, func+off, file:line
			if len(f) < 3 || f[0] != "#" {
				continue
			}
			fn, _, _ := strings.Cut(f[2], "+")
			if !strings.HasPrefix(fn, "runtime.") && !strings.HasPrefix(fn, "internal/") && !strings.HasPrefix(fn, "sync.") {
				entry = fn
			}
		}
		if entry != "" {
			groups[entry] += count
		}
	}
	return groups
}

// leftovers lists the goroutine groups of after that base does not have.
func leftovers(base, after map[string]int) []string {
	var out []string
	for fn, n := range after {
		if d := n - base[fn]; d > 0 {
			out = append(out, fmt.Sprintf("%s×%d", fn, d))
		}
	}
	sort.Strings(out)
	return out
}

func childBot(lib libs.Lib, spec childSpec) int {
	cmds := make(chan string)
	go func() { // owned by the process: ends with it
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- strings.TrimSpace(sc.Text())
		}
		cmds <- "exit"
	}()

	var (
		count, errs atomic.Int64
		mu          sync.Mutex
		ids         []int64
		doneOnce    sync.Once
		stopOnce    sync.Once
		done        = make(chan sample, 1)
		warmed      = make(chan struct{})
		warm        atomic.Pointer[sample]
		stopNow     = make(chan struct{})
		probed      atomic.Bool
	)
	env := libs.Env{
		URL: spec.URL, Token: spec.Token, PollTimeout: spec.PollTimeout, HandlerDelay: spec.HandlerDelay,
		Handled: func(id int64, err error) {
			if err != nil {
				errs.Add(1)
				return
			}
			if spec.RecordIDs {
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
			if spec.Probe != 0 && id == spec.Probe {
				probed.Store(true)
			}
			n := count.Add(1)
			if n == spec.Warmup {
				s := takeSample()
				warm.Store(&s)
				close(warmed)
			}
			if spec.Expect > 0 && n >= spec.Warmup+spec.Expect {
				doneOnce.Do(func() { done <- takeSample() })
			}
			if spec.StopAfter > 0 && n >= spec.StopAfter {
				stopOnce.Do(func() { close(stopNow) })
			}
		},
	}
	snapshotIDs := func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]int64(nil), ids...)
	}
	stats := func(ev string) event {
		rss, hwm := procStatus()
		return event{Ev: ev, Handled: count.Load(), Errors: errs.Load(), Goroutines: runtime.NumGoroutine(), RSS: rss, HWM: hwm, Probe: probed.Load()}
	}

	if spec.Mode == "webhook" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			emit(event{Ev: "error", Err: err.Error()})
			return 1
		}
		env.Webhook = &libs.Webhook{Listener: l, Path: "/hook", URL: "http://" + l.Addr().String() + "/hook", Secret: spec.Secret}
	}

	baseGroups := goroutineGroups()
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if spec.CPUProfile != "" {
		if f, err := os.Create(spec.CPUProfile); err == nil {
			defer f.Close()
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
		// and an allocation profile beside it (the default sampling rate:
		// a finer one would distort the CPU profile and figures)
		defer func() {
			if f, err := os.Create(strings.TrimSuffix(spec.CPUProfile, ".pprof") + ".allocs.pprof"); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	start := takeSample()
	if spec.Warmup == 0 {
		warm.Store(&start)
	}
	ranErr := make(chan error, 1)
	go func() { ranErr <- lib.Run(ctx, env) }()
	if env.Webhook != nil {
		emit(event{Ev: "ready", Addr: env.Webhook.Listener.Addr().String()})
	}

	stop := func() int {
		cancel()
		t := time.Now()
		e := stats("stopped")
		select {
		case err := <-ranErr:
			e.StopNS = int64(time.Since(t))
			if err != nil {
				e.Err = err.Error()
			}
		case <-time.After(90 * time.Second):
			e.StopNS = -1
			e.Err = "Run did not return within 90 s of cancel"
		}
		e.GoBase, e.GoReturn = base, goroutinesNow(base)
		time.Sleep(settle)
		e.GoAfter = runtime.NumGoroutine()
		e.Leftovers = leftovers(baseGroups, goroutineGroups())
		e.Handled, e.Errors = count.Load(), errs.Load()
		_, e.HWM = procStatus()
		if spec.RecordIDs {
			e.IDs = snapshotIDs()
		}
		emit(e)
		return 0
	}

	for {
		select {
		case <-warmed:
			emit(event{Ev: "warm", Handled: count.Load(), WarmNS: int64(warm.Load().t.Sub(start.t))})
			warmed = nil
		case s := <-done:
			if spec.CPUProfile != "" {
				pprof.StopCPUProfile()
			}
			_, hwm := procStatus()
			w := warm.Load()
			emit(event{
				Ev: "done", Handled: count.Load(), Errors: errs.Load(), HWM: hwm,
				ElapsedNS: int64(s.t.Sub(w.t)), CPUNS: int64(s.cpu - w.cpu), WarmNS: int64(w.t.Sub(start.t)),
				Allocs: s.allocs - w.allocs, Bytes: s.bytes - w.bytes,
			})
		case <-stopNow:
			return stop()
		case err := <-ranErr:
			e := stats("ended")
			if err != nil {
				e.Err = err.Error()
			}
			emit(e)
			ranErr = nil
		case c := <-cmds:
			switch c {
			case "stats":
				emit(stats("stats"))
			case "ids":
				e := stats("ids")
				e.IDs = snapshotIDs()
				emit(e)
			case "stop":
				return stop()
			case "exit":
				return 0
			}
		}
	}
}

// goroutinesNow counts the goroutines, letting those that are already
// returning (after their last wg.Done, say) finish first: up to 100
// yields while the count is above base.
func goroutinesNow(base int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100 && n > base; i++ {
		runtime.Gosched()
		n = min(n, runtime.NumGoroutine())
	}
	if n > base {
		n = min(n, liveGoroutines())
	}
	return n
}

// liveGoroutines counts the goroutines that are not exiting: one whose
// function has returned but that the scheduler has not yet retired (its
// stack is runtime.goexit1) is not left behind, whichever library it
// belonged to — the child's own goroutine that ran the library's Run is
// often one.
func liveGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	live := 0
	for rec := range strings.SplitSeq(string(buf), "\n\n") {
		_, stack, ok := strings.Cut(rec, "\n")
		if !ok || strings.HasPrefix(stack, "runtime.goexit1(") || strings.HasPrefix(stack, "runtime.goexit0(") {
			continue
		}
		live++
	}
	return live
}

// countingWriter discards what it is given and counts it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func childFile(lib libs.Lib, spec childSpec) int {
	env := libs.Env{URL: spec.URL, Token: spec.Token, PollTimeout: spec.PollTimeout}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rss0, _ := procStatus()
	t := time.Now()
	e := event{Ev: "done", RSS: rss0}
	var err error
	if spec.Mode == "upload" {
		e.FileID, err = lib.Upload(ctx, env, spec.ChatID, spec.Path)
	} else {
		var w countingWriter
		_, err = lib.Download(ctx, env, spec.FileID, io.Writer(&w))
		e.N = w.n
	}
	e.ElapsedNS = int64(time.Since(t))
	_, e.HWM = procStatus()
	if err != nil {
		e.Ev, e.Err = "error", err.Error()
	}
	emit(e)
	return 0
}
