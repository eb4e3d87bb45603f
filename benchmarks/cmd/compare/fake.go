package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/tidygram/tidygram/benchmarks/internal/fakeapi"
)

// fakeEnv names the environment variable that makes the binary run the
// fake Bot API server (a fakeapi.Config in JSON) instead of the comparison.
const fakeEnv = "TIDYGRAM_BENCH_FAKEAPI"

// fakeMain runs the fake Bot API server in this process, a child of the
// comparison, so that the server's CPU time is this process's rusage and
// nothing else's. It writes "ready" with the server's URL on stdout and
// takes commands on stdin: "release N" (make N more updates visible,
// answered "released"), "stats" (answered "server": the server's Stats and
// this process's CPU time so far) and "exit" (or end of input: close the
// server and exit). With a CPU profile asked for, it covers the time
// between the first and the second "stats".
func fakeMain(raw string) int {
	var spec fakeSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		emit(event{Ev: "error", Err: "bad fakeapi spec: " + err.Error()})
		return 2
	}
	s, err := fakeapi.New(spec.Config)
	if err != nil {
		emit(event{Ev: "error", Err: err.Error()})
		return 1
	}
	defer s.Close()
	emit(event{Ev: "ready", Addr: s.URL()})
	statsCalls := 0
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch cmd {
		case "release":
			n, err := strconv.Atoi(arg)
			if err != nil {
				emit(event{Ev: "error", Err: "release: " + err.Error()})
				continue
			}
			emit(event{Ev: "released", N: int64(s.Release(n))})
		case "stats":
			statsCalls++
			if spec.CPUProfile != "" && statsCalls == 2 {
				pprof.StopCPUProfile()
			}
			st := s.Stats()
			emit(event{Ev: "server", CPUNS: int64(cpuTime()), Server: &st})
			if spec.CPUProfile != "" && statsCalls == 1 {
				startProfile(spec.CPUProfile)
			}
		case "exit":
			return 0
		}
	}
	return 0
}

// fakeSpec is what the parent asks the fake server's process to do.
type fakeSpec struct {
	Config fakeapi.Config `json:"config"`
	// CPUProfile, if set, is where a CPU profile is written between the
	// first and the second "stats" command (the measured window).
	CPUProfile string `json:"cpu_profile,omitempty"`
}

// fakeServer is the parent's handle on a fake Bot API server process.
type fakeServer struct {
	c   *child
	url string
}

// serverStats is a snapshot of the fake: its counters and its process's
// CPU time.
type serverStats struct {
	fakeapi.Stats
	CPU time.Duration
}

// startFake starts a fake Bot API server in a child process and returns
// once it listens.
func startFake(ctx context.Context, spec fakeSpec) (*fakeServer, error) {
	c, err := startProc("fakeapi", fakeEnv, spec)
	if err != nil {
		return nil, fmt.Errorf("fakeapi: %w", err)
	}
	ready, err := c.next(ctx, "ready", 30*time.Second)
	if err != nil {
		c.close()
		return nil, err
	}
	return &fakeServer{c: c, url: ready.Addr}, nil
}

// release makes n more updates visible.
func (f *fakeServer) release(ctx context.Context, n int) error {
	_, err := f.c.ask(ctx, "release "+strconv.Itoa(n), "released", 10*time.Second)
	return err
}

// stats returns the server's counters and CPU time.
func (f *fakeServer) stats(ctx context.Context) (serverStats, error) {
	e, err := f.c.ask(ctx, "stats", "server", 10*time.Second)
	if err != nil {
		return serverStats{}, err
	}
	if e.Server == nil {
		return serverStats{}, fmt.Errorf("fakeapi: stats without counters")
	}
	return serverStats{Stats: *e.Server, CPU: time.Duration(e.CPUNS)}, nil
}

// startProfile starts a CPU profile written to path (best effort: a
// profile that cannot be written is reported on stderr).
func startProfile(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeapi: cpu profile:", err)
	}
}

// close ends the server process and waits for it.
func (f *fakeServer) close() { f.c.close() }
