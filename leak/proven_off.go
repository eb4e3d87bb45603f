//go:build !goexperiment.goroutineleakprofile

package leak

// LeakProfileCompiled reports whether this binary was built with
// GOEXPERIMENT=goroutineleakprofile, which puts the goroutineleak profile
// into Go 1.26 binaries. On Go 1.27 and later the profile is standard and
// this stays false: ask ProvenLeaks, which looks the profile up at run time.
const LeakProfileCompiled = false
