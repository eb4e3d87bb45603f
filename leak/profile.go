// Package leak finds goroutines that outlive their owner and names the owner.
//
// tidygram labels every goroutine it starts (pprof labels: component,
// handler, update_id, chat_id, and the bot they belong to); goroutines a
// handler starts inherit them. leak reads the runtime's goroutine profiles
// (debug=1, debug=2 with GODEBUG=tracebacklabels=1, and the goroutineleak
// profile where it is compiled in), groups goroutines by owner and stack,
// and reports the ones whose owner has ended:
//
//   - [Survivors] checks, a grace period after each update, that no goroutine
//     labelled with that update is still running;
//   - [Watchdog] samples goroutines, live heap and open files and warns on
//     sustained growth, naming the fastest-growing owners;
//   - [Tracker] wraps HTTP response bodies and reports the ones collected
//     without Close, with who opened them;
//   - [github.com/tidygram/tidygram/leak/leaktest] fails a test whose
//     goroutines outlive it (with t.Parallel too) or a test binary that
//     leaves some behind: it imports testing, so it is a package of its own;
//   - [Parse], [Diagnose] and [Diff] read any goroutine dump, explain it
//     from a catalogue of known leak patterns and show what grew.
//
// Goroutines of net/http's connection pool (persistConn read and write
// loops, dials) inherit the labels of the handler that caused the dial but
// belong to the pool: leak never blames a handler for them and reports them
// apart ([PoolStats]).
//
// leak only reads and reports: it never stops a goroutine. The one thing
// it changes is a response body collected without Close, which [Tracker]
// closes so its connection is freed.
package leak

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"io"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
)

// Group is a set of goroutines with the same labels and stack.
//
// A debug=1 profile gives Count, Labels and Stack only. A debug=2 dump
// (or a goroutineleak dump) also gives the wait state, how long they have
// waited, whether the runtime proved them leaked, and where they were
// created; goroutines of such a dump are grouped when all of these but the
// wait time and ids match.
type Group struct {
	Count  int               `json:"count"`
	Labels map[string]string `json:"labels,omitempty"`
	Stack  []Frame           `json:"stack"` // innermost first

	State      string  `json:"state,omitempty"`       // wait reason, e.g. "chan receive"; debug=2 only
	Wait       int     `json:"wait_min,omitempty"`    // longest wait in the group, whole minutes (the runtime prints ≥ 1 only)
	Leaked     int     `json:"leaked,omitempty"`      // goroutines the GC proved unreachable (goroutineleak profile)
	CreatedBy  Frame   `json:"created_by,omitzero"`   // the go statement; debug=2 only
	IDs        []int64 `json:"ids,omitempty"`         // goroutine ids, at most 16; debug=2 only
	CreatorIDs []int64 `json:"creator_ids,omitempty"` // ids of the goroutines that created them, at most 16 distinct; debug=2 only
}

// Frame is one function of a stack with its source position.
type Frame struct {
	Func string `json:"func"`
	File string `json:"file"`
	Line int    `json:"line"`
}

func (f Frame) String() string { return fmt.Sprintf("%s (%s:%d)", f.Func, f.File, f.Line) }

// snapshotLabelled is Snapshot keeping only goroutines whose labels hold
// key=value, decoding no other labels (cheaper when most are others').
func snapshotLabelled(key, value string) ([]Group, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil, fmt.Errorf("leak: goroutine profile: %w", err)
	}
	k, _ := json.Marshal(key)
	v, _ := json.Marshal(value)
	return parseProfile(&buf, string(k)+":"+string(v))
}

// Snapshot returns the live goroutines grouped by labels and stack, read
// from the runtime's goroutine profile in its debug=1 form (cheap: no
// stop-the-world traceback).
func Snapshot() ([]Group, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil, fmt.Errorf("leak: goroutine profile: %w", err)
	}
	return ParseProfile(&buf)
}

// ParseProfile parses a goroutine (or goroutineleak) profile written with
// debug=1. Every goroutine of a goroutineleak profile counts as leaked.
// Lines it does not know are skipped; a malformed record header or label
// set is an error. A line may be at most 1 MiB long.
func ParseProfile(r io.Reader) ([]Group, error) { return parseProfile(r, "") }

// parseProfile is ParseProfile keeping only the records whose labels line
// contains want ("" keeps all), without decoding the others' labels.
func parseProfile(r io.Reader, want string) ([]Group, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var groups []Group
	var cur *Group
	leaked := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutineleak profile: "):
			leaked = true
		case line == "":
			cur = nil
		case strings.HasPrefix(line, "# labels: "):
			if cur != nil && want != "" && !strings.Contains(line, want) {
				cur.Labels, cur = nil, nil // not wanted: dropped below, labels never decoded
			}
			if cur != nil {
				labels := map[string]string{}
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "# labels: ")), &labels); err != nil {
					return nil, fmt.Errorf("leak: labels %q: %w", line, errors.Join(ErrFormat, err))
				}
				cur.Labels = labels
			}
		case strings.HasPrefix(line, "#\t"):
			if cur != nil {
				if f, ok := parseFrame(line[2:]); ok {
					cur.Stack = append(cur.Stack, f)
				}
			}
		case strings.Contains(line, " @ "):
			n, err := strconv.Atoi(line[:strings.IndexByte(line, ' ')])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("leak: record header %q: %w", line, errors.Join(ErrFormat, err))
			}
			groups = append(groups, Group{Count: n})
			cur = &groups[len(groups)-1]
			if leaked {
				cur.Leaked = n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("leak: reading profile: %w", err)
	}
	if want != "" {
		groups = slices.DeleteFunc(groups, func(g Group) bool { return g.Labels == nil })
	}
	return groups, nil
}

// parseFrame parses "0x4728e4\tpkg.fn+0x84\t/path/file.go:351" (the
// runtime pads with extra tabs to align columns).
func parseFrame(s string) (Frame, bool) {
	var parts []string
	for _, p := range strings.Split(s, "\t") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) < 2 {
		return Frame{}, false
	}
	fn := parts[1]
	if i := strings.LastIndex(fn, "+0x"); i >= 0 {
		fn = fn[:i]
	}
	f := Frame{Func: fn}
	if len(parts) >= 3 {
		f.File, f.Line = parseFileLine(parts[2])
	}
	return f, true
}

// Filter keeps the groups for which keep returns true.
func Filter(groups []Group, keep func(Group) bool) []Group {
	return slices.DeleteFunc(slices.Clone(groups), func(g Group) bool { return !keep(g) })
}

// Count returns the number of goroutines in groups.
func Count(groups []Group) int {
	n := 0
	for _, g := range groups {
		n += g.Count
	}
	return n
}

// Origin returns the frame where the goroutine's own code starts: the
// outermost frame that is not in the runtime, i.e. the function the go
// statement started.
func (g Group) Origin() Frame {
	for i := len(g.Stack) - 1; i >= 0; i-- {
		f := g.Stack[i]
		if !strings.HasPrefix(f.Func, "runtime.") && !strings.HasPrefix(f.Func, "runtime/pprof.") {
			return f
		}
	}
	if len(g.Stack) > 0 {
		return g.Stack[0]
	}
	return Frame{}
}

// Format writes a human-readable report of groups, largest first: count,
// wait state, owner labels, where the goroutines were created, where they
// started and where they are blocked.
func Format(groups []Group) string {
	gs := slices.Clone(groups)
	sortStableFunc(gs, func(a, b Group) int { return b.Count - a.Count })
	var sb strings.Builder
	for _, g := range gs {
		formatGroup(&sb, g)
	}
	return sb.String()
}

func formatGroup(sb *strings.Builder, g Group) {
	fmt.Fprintf(sb, "%d goroutine(s)", g.Count)
	var st []string
	if g.State != "" {
		st = append(st, g.State)
	}
	if g.Wait > 0 {
		st = append(st, fmt.Sprintf("%d min", g.Wait))
	}
	if g.Leaked > 0 {
		st = append(st, fmt.Sprintf("%d proven leaked", g.Leaked))
	}
	if len(st) > 0 {
		fmt.Fprintf(sb, " [%s]", strings.Join(st, ", "))
	}
	if len(g.Labels) > 0 {
		sb.WriteString(" owned by " + labelString(g.Labels))
	}
	sb.WriteString("\n")
	if g.CreatedBy.Func != "" {
		fmt.Fprintf(sb, "    created by %s\n", g.CreatedBy)
	}
	if o := g.Origin(); o.Func != "" {
		fmt.Fprintf(sb, "    started at %s\n", o)
	}
	if len(g.Stack) > 0 {
		fmt.Fprintf(sb, "    blocked in %s\n", g.Stack[0])
	}
}

// labelString renders labels as sorted "k=v" pairs.
func labelString(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, " ")
}
