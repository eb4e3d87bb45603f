package leak

import (
	"bytes"
	"fmt"
	"runtime/pprof"
)

// ProvenLeaks returns the goroutines the garbage collector proves leaked:
// blocked on a channel, select, mutex, WaitGroup or Cond that no runnable
// goroutine can reach (the goroutineleak profile, debug=1). Each call
// forces a full GC cycle; use it rarely (WithProvenEvery runs it at most
// once a minute). It misses goroutines blocked on I/O, timers, syscalls or
// primitives reachable from globals: an empty result is no proof of
// health.
//
// The profile exists in Go 1.26 binaries built with
// GOEXPERIMENT=goroutineleakprofile (LeakProfileCompiled) and, as Go 1.27
// makes it standard, in every later binary: ProvenLeaks looks it up at run
// time and returns ErrNoLeakProfile where it is missing.
func ProvenLeaks() ([]Group, error) {
	buf, err := leakProfile(1)
	if err != nil {
		return nil, err
	}
	return ParseProfile(buf)
}

// ProvenGoroutines is ProvenLeaks as a debug=2 dump: every goroutine,
// those proven leaked marked Leaked, with creation sites (and labels when
// GODEBUG has tracebacklabels=1). It stops the world for the traceback.
func ProvenGoroutines() ([]Goroutine, error) {
	buf, err := leakProfile(2)
	if err != nil {
		return nil, err
	}
	return ParseDump(buf)
}

// leakProfile writes the goroutineleak profile at debug level debug.
func leakProfile(debug int) (*bytes.Buffer, error) {
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		return nil, ErrNoLeakProfile
	}
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, debug); err != nil {
		return nil, fmt.Errorf("leak: goroutineleak profile: %w", err)
	}
	return &buf, nil
}
