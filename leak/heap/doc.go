// Package heap explains heap growth from heap profiles: it reads the
// profiles the Go runtime writes (runtime/pprof's heap profile, as
// /debug/pprof/heap serves it: gzipped protobuf, or the legacy text form),
// ranks allocation sites by in-use bytes and objects, compares profiles
// taken over time and gives each site a verdict — leak (in-use bytes grow
// from profile to profile, that is across garbage collections) or churn
// (many bytes allocated, in-use flat) — and explains the sites it
// recognises with the fix, as package leak does for goroutines.
//
// A site is the allocation's stack cut to the frames that matter: the
// innermost frame outside the runtime (which may be a standard library
// function such as io.ReadAll), the first frame outside the runtime and the
// standard library, and the handler when the stack passes through
// tidygram's executor. Heap profiles carry no pprof labels, so the handler
// is the function the executor called; its route is named by the bot (a
// Watchdog's alarm), by the bot's ops server (ServerRoutes, from
// /debug/routes) or by WithRoute.
//
// Limits: heap profiles are sampled (one sample per 512 KiB allocated by
// default, scaled to estimates by the runtime), so sites smaller than a
// few samples come and go; in-use figures are as of the last completed
// garbage collection (fetch with ?gc=1 to force one). The package reads at
// most MaxProfileSize bytes of a profile (after decompression).
//
// heap owns the reading, comparing and explaining of heap profiles, and
// nothing else: it starts no goroutine, keeps no global state and never
// takes a profile itself (the caller hands it bytes: a file, an ops
// server's answer, leak.HeapProfile). It is not linked into bots: package
// leak's Watchdog takes raw profile bytes and an explainer
// (leak.HeapExplainer), and this package provides one (Explainer) for the
// program's main to plug in with leak.WithHeapExplainer; tidygram's ops
// server does not wire it, so that a bot links the profile parser only
// when it asks for it. The tidygram command's "leaks" reads profiles
// from files, stdin and ops servers with it, and its "soak" compares the
// profiles of a soaked bot.
//
// Patterns (Catalogue): a body or file read whole, time.After or timers
// made in a loop, a strings.Builder or bytes.Buffer kept across calls, a
// cache without eviction, a map or slice that only grows, large objects
// kept alive (often by a small sub-slice), and any other site whose
// in-use memory grows. The runtime leaves its own frames (mapassign,
// growslice) out of heap profiles, so containers are recognised by their
// backing arrays being allocated again and again, bigger each time.
package heap
