package leak

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
)

// ErrFormat is wrapped by every error about input that is not a goroutine
// dump leak can read.
var ErrFormat = errors.New("not a goroutine dump")

// maxIDs bounds Group.IDs.
const maxIDs = 16

// MaxDumpSize bounds what Parse reads: 256 MiB, four times the 64 MiB at
// which the runtime truncates a debug=2 dump.
const MaxDumpSize = 256 << 20

// Goroutine is one goroutine of a debug=2 dump (goroutine or goroutineleak
// profile, runtime.Stack with all=true, a panic's traceback).
type Goroutine struct {
	ID        int64             `json:"id"`
	State     string            `json:"state"`              // "running", "chan receive", "IO wait", …
	Wait      int               `json:"wait_min,omitempty"` // minutes blocked; the runtime prints 1 and more only
	Leaked    bool              `json:"leaked,omitempty"`   // proven unreachable by the goroutineleak profile
	Durable   bool              `json:"durable,omitempty"`  // durably blocked in a synctest bubble
	Locked    bool              `json:"locked,omitempty"`   // locked to its OS thread
	Bubble    int64             `json:"bubble,omitempty"`   // synctest bubble id
	Labels    map[string]string `json:"labels,omitempty"`   // only with GODEBUG=tracebacklabels=1
	Stack     []Frame           `json:"stack"`              // innermost first
	CreatedBy Frame             `json:"created_by,omitzero"`
	CreatorID int64             `json:"creator_id,omitempty"`
	Elided    bool              `json:"elided,omitempty"` // the runtime left frames out
}

// Dump is a parsed goroutine dump of any format leak reads.
type Dump struct {
	Kind       string      `json:"kind"`  // "goroutine" or "goroutineleak"
	Debug      int         `json:"debug"` // 1 (aggregated, with labels) or 2 (per goroutine)
	Groups     []Group     `json:"groups"`
	Goroutines []Goroutine `json:"goroutines,omitempty"` // debug=2 only
}

// Total returns the number of goroutines in the dump.
func (d *Dump) Total() int { return Count(d.Groups) }

// Parse reads a goroutine dump and detects its format: a debug=1 goroutine
// or goroutineleak profile, or a debug=2 dump (which is a goroutineleak
// dump when any goroutine is marked "(leaked)"). It reads at most
// MaxDumpSize bytes. A gzipped (debug=0, protobuf) profile is refused with
// an error saying how to fetch a text one.
func Parse(r io.Reader) (*Dump, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDumpSize+1))
	if err != nil {
		return nil, fmt.Errorf("leak: reading dump: %w", err)
	}
	if len(data) > MaxDumpSize {
		return nil, fmt.Errorf("leak: dump larger than %d bytes: %w", MaxDumpSize, ErrFormat)
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		return nil, fmt.Errorf("leak: gzipped protobuf profile (debug=0): fetch it with ?debug=1 or ?debug=2: %w", ErrFormat)
	}
	first := firstLine(data)
	switch {
	case strings.HasPrefix(first, "goroutine profile: "), strings.HasPrefix(first, "goroutineleak profile: "):
		groups, err := ParseProfile(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		kind := "goroutine"
		if strings.HasPrefix(first, "goroutineleak") {
			kind = "goroutineleak"
		}
		return &Dump{Kind: kind, Debug: 1, Groups: groups}, nil
	}
	gs, err := ParseDump(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, fmt.Errorf("leak: no goroutine profile header and no goroutine traceback found: %w", ErrFormat)
	}
	d := &Dump{Kind: "goroutine", Debug: 2, Goroutines: gs, Groups: GroupGoroutines(gs)}
	if slices.ContainsFunc(gs, func(g Goroutine) bool { return g.Leaked }) {
		d.Kind = "goroutineleak"
	}
	return d, nil
}

func firstLine(data []byte) string {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data
		if i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if s := strings.TrimSpace(string(line)); s != "" {
			return s
		}
	}
	return ""
}

// ParseDump parses a debug=2 dump: a list of "goroutine N [state]:" blocks.
// Text outside the blocks (a panic message, test output) is skipped; so are
// lines inside a block it does not know. Headers carry labels only when the
// dumping process ran with GODEBUG=tracebacklabels=1.
func ParseDump(r io.Reader) ([]Goroutine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Goroutine
	var cur *Goroutine
	var fn string // function line waiting for its file line
	created := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, "]:") {
			g, err := parseHeader(line)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
			cur, fn, created = &out[len(out)-1], "", false
			continue
		}
		if cur == nil {
			continue
		}
		switch {
		case strings.TrimSpace(line) == "":
			cur = nil
		case strings.HasPrefix(line, "\t"):
			if fn == "" {
				continue
			}
			file, ln := parseFileLine(line[1:])
			f := Frame{Func: fn, File: file, Line: ln}
			if created {
				cur.CreatedBy = f
			} else {
				cur.Stack = append(cur.Stack, f)
			}
			fn = ""
		case strings.HasPrefix(line, "created by "):
			name := strings.TrimPrefix(line, "created by ")
			if i := strings.Index(name, " in goroutine "); i >= 0 {
				cur.CreatorID, _ = strconv.ParseInt(name[i+len(" in goroutine "):], 10, 64)
				name = name[:i]
			}
			fn, created = name, true
		case strings.HasPrefix(line, "...") && strings.HasSuffix(line, "elided..."):
			cur.Elided = true
		default:
			fn, created = funcName(line), false
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("leak: reading dump: %w", err)
	}
	return out, nil
}

// parseHeader parses
//
//	goroutine 7 [chan send (leaked), 3 minutes, locked to thread, synctest bubble 2 labels:{"k": "v"}]:
//
// (also with " gp=… m=… mp=…" after the id).
func parseHeader(line string) (Goroutine, error) {
	bad := func(why string) (Goroutine, error) {
		return Goroutine{}, fmt.Errorf("leak: goroutine header %q: %s: %w", line, why, ErrFormat)
	}
	rest := strings.TrimPrefix(line, "goroutine ")
	sp := strings.IndexByte(rest, ' ')
	if sp < 0 {
		return bad("no state")
	}
	id, err := strconv.ParseInt(rest[:sp], 10, 64)
	if err != nil {
		return bad("bad id")
	}
	open := strings.Index(rest, " [")
	if open < 0 {
		return bad("no state")
	}
	inner := rest[open+2 : len(rest)-2]
	g := Goroutine{ID: id}
	if i := strings.Index(inner, " labels:{"); i >= 0 {
		labels, err := parseLabels(inner[i+len(" labels:{"):])
		if err != nil {
			return bad(err.Error())
		}
		g.Labels, inner = labels, inner[:i]
	}
	parts := strings.Split(inner, ", ")
	st := parts[0]
	for _, suf := range []struct {
		s string
		p *bool
	}{{" (durable)", &g.Durable}, {" (scan)", nil}, {" (leaked)", &g.Leaked}} {
		if strings.HasSuffix(st, suf.s) {
			st = strings.TrimSuffix(st, suf.s)
			if suf.p != nil {
				*suf.p = true
			}
		}
	}
	g.State = st
	for _, p := range parts[1:] {
		switch {
		case strings.HasSuffix(p, " minutes"):
			g.Wait, _ = strconv.Atoi(strings.TrimSuffix(p, " minutes"))
		case p == "locked to thread":
			g.Locked = true
		case strings.HasPrefix(p, "synctest bubble "):
			g.Bubble, _ = strconv.ParseInt(strings.TrimPrefix(p, "synctest bubble "), 10, 64)
		}
	}
	return g, nil
}

// parseLabels parses `"k": "v", "k2": "v2"}` (Go-quoted strings).
func parseLabels(s string) (map[string]string, error) {
	labels := map[string]string{}
	next := func() (string, error) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", errors.New("bad label quoting")
		}
		s = s[len(q):]
		return strconv.Unquote(q)
	}
	for {
		if strings.HasPrefix(s, "}") {
			return labels, nil
		}
		k, err := next()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(s, ": ") {
			return nil, errors.New("bad label separator")
		}
		s = s[2:]
		v, err := next()
		if err != nil {
			return nil, err
		}
		labels[k] = v
		s = strings.TrimPrefix(s, ", ")
	}
}

// funcName strips the argument list from "pkg.(*T).m(0x1, {0x2, 0x3})".
func funcName(line string) string {
	line = strings.TrimSpace(line)
	if !strings.HasSuffix(line, ")") {
		return line
	}
	depth := 0
	for i := len(line) - 1; i >= 0; i-- {
		switch line[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				return line[:i]
			}
		}
	}
	return line
}

// parseFileLine parses "/path/file.go:13 +0x1e".
func parseFileLine(s string) (string, int) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, " +0x"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if n, err := strconv.Atoi(s[i+1:]); err == nil {
			return s[:i], n
		}
	}
	return s, 0
}

// GroupGoroutines groups goroutines with the same labels, state, stack and
// creation site, largest group first (then by first appearance). A group's
// Wait is its longest wait; IDs keeps the first 16 ids.
func GroupGoroutines(gs []Goroutine) []Group {
	index := map[string]int{}
	var out []Group
	for _, g := range gs {
		k := goroutineKey(g)
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, Group{Labels: g.Labels, Stack: g.Stack, State: g.State, CreatedBy: g.CreatedBy})
		}
		grp := &out[i]
		grp.Count++
		grp.Wait = max(grp.Wait, g.Wait)
		if g.Leaked {
			grp.Leaked++
		}
		if len(grp.IDs) < maxIDs {
			grp.IDs = append(grp.IDs, g.ID)
		}
		if g.CreatorID != 0 && len(grp.CreatorIDs) < maxIDs && !slices.Contains(grp.CreatorIDs, g.CreatorID) {
			grp.CreatorIDs = append(grp.CreatorIDs, g.CreatorID)
		}
	}
	sortStableFunc(out, func(a, b Group) int { return b.Count - a.Count })
	return out
}

func goroutineKey(g Goroutine) string {
	var sb strings.Builder
	sb.WriteString(labelString(g.Labels))
	sb.WriteString("\x00" + g.State + "\x00")
	if g.Leaked {
		sb.WriteString("L")
	}
	writeStack(&sb, g.Stack)
	sb.WriteString("\x00" + g.CreatedBy.String())
	return sb.String()
}

func writeStack(sb *strings.Builder, stack []Frame) {
	for _, f := range stack {
		sb.WriteString(f.Func)
		sb.WriteByte(':')
		sb.WriteString(strconv.Itoa(f.Line))
		sb.WriteByte(';')
	}
}

// Goroutines returns every live goroutine from a debug=2 dump. It stops
// the world for the whole traceback (about 70 ms per 50,000 goroutines):
// use it on demand, not periodically. Labels are present only while
// GODEBUG has tracebacklabels=1 (see [EnableTracebackLabels]).
func Goroutines() ([]Goroutine, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
		return nil, fmt.Errorf("leak: goroutine dump: %w", err)
	}
	return ParseDump(&buf)
}

// TracebackLabels reports whether this process puts pprof labels into
// debug=2 dumps and tracebacks (GODEBUG tracebacklabels=1).
func TracebackLabels() bool {
	v := ""
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if k, val, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "tracebacklabels" {
			v = val // the last setting wins
		}
	}
	return v == "1"
}

// EnableTracebackLabels adds tracebacklabels=1 to GODEBUG, keeping the
// other settings, so debug=2 dumps and panic tracebacks carry pprof labels
// (the runtime rereads GODEBUG when it is set). It is process-wide: labels
// then appear in every panic log, so labels must hold no personal data. An
// explicit tracebacklabels=0 is left alone.
func EnableTracebackLabels() error {
	cur := os.Getenv("GODEBUG")
	for _, kv := range strings.Split(cur, ",") {
		if strings.HasPrefix(strings.TrimSpace(kv), "tracebacklabels=") {
			return nil
		}
	}
	v := "tracebacklabels=1"
	if cur != "" {
		v = cur + "," + v
	}
	if err := os.Setenv("GODEBUG", v); err != nil {
		return fmt.Errorf("leak: setting GODEBUG: %w", err)
	}
	return nil
}
