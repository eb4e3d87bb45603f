// Command compare runs tidygram, a hand-written net/http floor and the
// popular Go Telegram bot libraries with the same workloads, and prints
// Markdown tables.
//
//	cd benchmarks && go run ./cmd/compare                      # about 10 minutes on 2 cores
//	cd benchmarks && go run ./cmd/compare -updates 50000       # the count
//	cd benchmarks && go run ./cmd/compare -quick               # smoke run, about 2 minutes
//
// Each library's bot runs in a child process (this binary re-executed), so
// CPU time, peak RSS and goroutines are the library's own. The throughput
// workloads (polling, webhook) run against the fake Bot API server of
// internal/fakeapi, itself in a child process, so that its CPU time is
// measured too and shown next to the bot's: the server must cost under a
// third of the bot, or the run measures the server. They run in rounds,
// libraries interleaved, and report medians. The behaviour workloads run
// against the full emulator (tgtest) in this process: stop (latency with a
// poll pending, goroutines left, losses and duplicates across a restart),
// faults (goroutines and connections through getUpdates failures) and
// files (peak RSS of a large upload and download).
//
// The parent owns every server and child process it starts: each workload
// closes its servers and ends its children (exit command, then SIGKILL)
// before it returns, so a run leaves no process or goroutine behind.
// Nothing is contacted beyond 127.0.0.1. A child is a short-lived process:
// when told to exit it exits without stopping its library, which is how a
// library's leftovers are measured only where asked (stop).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tidygram/tidygram/benchmarks/internal/libs"
)

// config holds the flags of one comparison.
type config struct {
	updates        int
	warmup         int
	rounds         int
	chats          int
	libs           []string
	workloads      []string
	pollTimeout    time.Duration
	restartUpdates int
	restartChats   int
	restartDelay   time.Duration
	quiet          time.Duration // no reply for this long after the last: a bot is done (stop, faults)
	faultCycles    int
	faultTime      time.Duration
	fileMiB        int
	bodyMiB        int
	tmpDir         string
	tputLimit      time.Duration
	profileLib     string
	profileDir     string
	progress       io.Writer
}

var allWorkloads = []string{"throughput", "webhook", "stop", "faults", "files"}

func defaultConfig() config {
	return config{
		updates: 20_000, warmup: 20, rounds: 3, chats: 1000,
		libs:           libNames(),
		workloads:      allWorkloads,
		pollTimeout:    30 * time.Second,
		restartUpdates: 2000, restartChats: 100, restartDelay: 5 * time.Millisecond, quiet: time.Second,
		faultCycles: 300, faultTime: 20 * time.Second,
		fileMiB: 512, bodyMiB: 256,
		tputLimit: 2 * time.Minute,
		progress:  os.Stderr,
	}
}

// quick shrinks the run to a smoke test of about a minute.
func (cfg *config) quick() {
	cfg.updates, cfg.rounds, cfg.chats = 2000, 1, 200
	cfg.pollTimeout = 2 * time.Second
	cfg.restartUpdates, cfg.restartChats = 200, 20
	cfg.faultCycles, cfg.faultTime = 30, 2*time.Second
	cfg.fileMiB, cfg.bodyMiB = 16, 8
}

func libNames() []string {
	var names []string
	for _, l := range libs.All() {
		names = append(names, l.Name)
	}
	return names
}

func main() {
	if raw := os.Getenv(childEnv); raw != "" {
		childMain(raw)
		return
	}
	if raw := os.Getenv(fakeEnv); raw != "" {
		os.Exit(fakeMain(raw))
	}
	cfg := defaultConfig()
	quick := flag.Bool("quick", false, "smoke run: small counts, one round (about 2 minutes)")
	only := flag.String("only", "", "comma-separated libraries (default all: "+strings.Join(libNames(), ",")+")")
	work := flag.String("workloads", "", "comma-separated workloads (default all: "+strings.Join(allWorkloads, ",")+")")
	updates := flag.Int("updates", 0, "updates per throughput run (default 20000 to keep the run near 10 minutes on 2 cores; -quick 2000)")
	rounds := flag.Int("rounds", 0, "rounds of the throughput workloads (default 3; -quick 1)")
	poll := flag.Duration("poll-timeout", 0, "long-poll timeout of every bot (default 30s)")
	fileMiB := flag.Int("file-mib", 0, "size of the file uploaded and downloaded (default 512; -quick 16)")
	flag.StringVar(&cfg.profileLib, "profile", "", "write a CPU profile of this library's throughput child to -profile-dir (fakeapi: of the fake server in every throughput run)")
	flag.DurationVar(&cfg.tputLimit, "timeout", cfg.tputLimit, "give up on a throughput run after this long (at least 5 ms per update)")
	flag.StringVar(&cfg.profileDir, "profile-dir", os.TempDir(), "directory for -profile")
	flag.Parse()
	if *quick {
		cfg.quick()
	}
	setIf(&cfg.updates, *updates)
	setIf(&cfg.rounds, *rounds)
	setIf(&cfg.fileMiB, *fileMiB)
	if *poll > 0 {
		cfg.pollTimeout = *poll
	}
	if *only != "" {
		cfg.libs = strings.Split(*only, ",")
	}
	if *work != "" {
		cfg.workloads = strings.Split(*work, ",")
	}
	res, err := cfg.run(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	res.print(os.Stdout, &cfg)
}

func setIf(dst *int, v int) {
	if v > 0 {
		*dst = v
	}
}

// results gathers every measurement of a run.
type results struct {
	start      time.Time
	duration   time.Duration
	loadStart  string                  // /proc/loadavg when the run started, after the
	loadTput   string                  // throughput rounds and at the end: other processes on
	loadEnd    string                  // the machine skew every figure
	throughput map[string][]tputResult // by library, one per round
	webhook    map[string][]tputResult
	stop       []stopResult
	faults     []faultResult
	files      []fileResult
}

func (cfg *config) logf(format string, args ...any) {
	if cfg.progress != nil {
		fmt.Fprintf(cfg.progress, format+"\n", args...)
	}
}

func (cfg *config) has(workload string) bool { return slices.Contains(cfg.workloads, workload) }

// run runs every selected workload for every selected library.
func (cfg *config) run(ctx context.Context) (*results, error) {
	for _, name := range cfg.libs {
		if _, err := libs.ByName(name); err != nil {
			return nil, err
		}
	}
	for _, w := range cfg.workloads {
		if !slices.Contains(allWorkloads, w) {
			return nil, fmt.Errorf("unknown workload %q", w)
		}
	}
	res := &results{start: time.Now(), loadStart: loadavg(), throughput: map[string][]tputResult{}, webhook: map[string][]tputResult{}}
	for round := range cfg.rounds {
		// Interleave: each round starts at a different library.
		order := append(slices.Clone(cfg.libs[round%len(cfg.libs):]), cfg.libs[:round%len(cfg.libs)]...)
		for _, mode := range []string{"poll", "webhook"} {
			if !cfg.has(map[string]string{"poll": "throughput", "webhook": "webhook"}[mode]) {
				continue
			}
			for _, lib := range order {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				r := cfg.runThroughput(ctx, lib, mode, round) // the huge body and wrong secret once
				cfg.logf("round %d %-8s %-16s %8.0f updates/s %6.1f µs CPU/update (server %5.1f µs, %.2f×) %6.1f allocs/update, %.4f polls and %.3f redelivered/update, sent %d %s",
					round+1, mode, lib, r.UpdatesPerSec, r.CPUPerUpdate, r.ServerCPUPerUpdate, r.serverShare(), r.AllocsPerUpdate, r.PollsPerUpdate, r.RedeliveredPerUpdate, r.Sent, short(r.Err))
				if mode == "poll" {
					res.throughput[lib] = append(res.throughput[lib], r)
				} else {
					res.webhook[lib] = append(res.webhook[lib], r)
				}
			}
		}
	}
	res.loadTput = loadavg()
	if cfg.has("stop") {
		for _, lib := range cfg.libs {
			r := cfg.runStop(ctx, lib)
			cfg.logf("stop %-16s %8.1f ms, goroutines left %d/%d, restart lost %d dup %d %s", lib, r.StopMS, r.GoReturn, r.GoAfter, r.Lost, r.Dup, short(r.Err))
			res.stop = append(res.stop, r)
		}
	}
	if cfg.has("faults") {
		for _, lib := range cfg.libs {
			r := cfg.runFaults(ctx, lib)
			cfg.logf("faults %-16s %d cycles %d faults in %.1fs, goroutines %d→%d→%d, conns %d, lost %d %s",
				lib, r.Cycles, r.Faults, r.Seconds, r.GoStart, r.GoMax, r.GoEnd, r.Conns, r.Lost, short(r.Err))
			res.faults = append(res.faults, r)
		}
	}
	if cfg.has("files") {
		dir, err := os.MkdirTemp(cfg.tmpDir, "tidygram-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		size := int64(cfg.fileMiB) * mib
		path, err := makeFile(dir, size)
		if err != nil {
			return nil, err
		}
		for _, lib := range cfg.libs {
			r := cfg.runFiles(ctx, lib, path, size)
			cfg.logf("files %-16s upload %.0f MiB peak RSS (%.1fs) download %.0f MiB (%.1fs) %s %s",
				lib, r.UpRSS, r.UpSec, r.DownRSS, r.DownSec, short(r.UpErr), short(r.DownErr))
			res.files = append(res.files, r)
		}
	}
	res.duration = time.Since(res.start)
	res.loadEnd = loadavg()
	return res, nil
}
