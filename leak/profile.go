// Package leak finds goroutines that outlive their owner and names the owner.
//
// tidygram labels every goroutine it starts (pprof labels: component,
// handler, update_id, chat_id, and the bot they belong to); goroutines a
// handler starts inherit them. leak reads the runtime's goroutine profile,
// groups goroutines by labels and stack, and reports the ones whose owner
// has ended. leak only reads: it never stops or changes a goroutine.
package leak

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
)

// Group is a set of goroutines with the same labels and stack.
type Group struct {
	Count  int               `json:"count"`
	Labels map[string]string `json:"labels,omitempty"`
	Stack  []Frame           `json:"stack"` // innermost first
}

// Frame is one function of a stack with its source position.
type Frame struct {
	Func string `json:"func"`
	File string `json:"file"`
	Line int    `json:"line"`
}

func (f Frame) String() string { return fmt.Sprintf("%s (%s:%d)", f.Func, f.File, f.Line) }

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
// debug=1.
func ParseProfile(r io.Reader) ([]Group, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var groups []Group
	var cur *Group
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			cur = nil
		case strings.HasPrefix(line, "# labels: "):
			if cur != nil {
				labels := map[string]string{}
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "# labels: ")), &labels); err != nil {
					return nil, fmt.Errorf("leak: labels %q: %w", line, err)
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
			if err != nil {
				return nil, fmt.Errorf("leak: record header %q: %w", line, err)
			}
			groups = append(groups, Group{Count: n})
			cur = &groups[len(groups)-1]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("leak: reading profile: %w", err)
	}
	return groups, nil
}

// parseFrame parses "0x4728e4\tpkg.fn+0x84\t/path/file.go:351".
func parseFrame(s string) (Frame, bool) {
	parts := strings.Split(s, "\t")
	if len(parts) < 3 {
		return Frame{}, false
	}
	fn := parts[1]
	if i := strings.LastIndex(fn, "+0x"); i >= 0 {
		fn = fn[:i]
	}
	file, line := strings.TrimSpace(parts[2]), 0
	if i := strings.LastIndexByte(file, ':'); i >= 0 {
		line, _ = strconv.Atoi(file[i+1:])
		file = file[:i]
	}
	return Frame{Func: fn, File: file, Line: line}, true
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
// owner labels, where the goroutine was started and where it is blocked.
func Format(groups []Group) string {
	gs := slices.Clone(groups)
	slices.SortStableFunc(gs, func(a, b Group) int { return b.Count - a.Count })
	var sb strings.Builder
	for _, g := range gs {
		fmt.Fprintf(&sb, "%d goroutine(s)", g.Count)
		if len(g.Labels) > 0 {
			keys := make([]string, 0, len(g.Labels))
			for k := range g.Labels {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			sb.WriteString(" owned by")
			for _, k := range keys {
				fmt.Fprintf(&sb, " %s=%s", k, g.Labels[k])
			}
		}
		sb.WriteString("\n")
		if o := g.Origin(); o.Func != "" {
			fmt.Fprintf(&sb, "    started at %s\n", o)
		}
		if len(g.Stack) > 0 {
			fmt.Fprintf(&sb, "    blocked in %s\n", g.Stack[0])
		}
	}
	return sb.String()
}
