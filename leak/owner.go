package leak

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Label keys tidygram puts on its goroutines (the root package exports the
// same names). TestLabel is the key leaktest.Check puts on a test's goroutine.
const (
	LabelBot       = "tidygram.bot"
	LabelComponent = "component"
	LabelHandler   = "handler"
	LabelUpdateID  = "update_id"
	LabelChatID    = "chat_id"
	TestLabel      = "leak.test"
)

// Pool roles of net/http client goroutines, see [Group.PoolRole].
const (
	PoolReader = "reader" // persistConn.readLoop reading: the connection is idle or awaits a response
	PoolBody   = "body"   // persistConn.readLoop waiting for its response body to be read and closed
	PoolWriter = "writer" // persistConn.writeLoop
	PoolDial   = "dial"   // a dial or TLS handshake in progress
	PoolOther  = "other"  // HTTP/2 connection loops and transport helpers
)

// poolEntries are the functions net/http's client starts goroutines with
// (Go 1.26; HTTP/2 bundled or from x/net), most specific first.
type poolEntry struct{ prefix, role string }

func poolRoleOf(entry string) string {
	for _, p := range [...]poolEntry{
		{"net/http.(*persistConn).readLoop", PoolReader},
		{"net/http.(*persistConn).writeLoop", PoolWriter},
		{"net/http.(*persistConn).addTLS", PoolDial},
		{"net/http.(*persistConn).", PoolOther},
		{"net/http.(*Transport).startDialConnForLocked", PoolDial},
		{"net/http.(*Transport).dialConn", PoolDial},
		{"net/http.(*Transport).", PoolOther},
		{"net/http.awaitLegacyCancel", PoolOther},
		{"net/http.(*http2ClientConn).", PoolOther},
		{"net/http.(*http2clientStream).", PoolOther},
		{"net/http.(*http2dialCall).", PoolDial},
		{"net/http.(*http2Transport).", PoolOther},
		{"golang.org/x/net/http2.(*ClientConn).", PoolOther},
		{"golang.org/x/net/http2.(*clientStream).", PoolOther},
		{"golang.org/x/net/http2.(*dialCall).", PoolDial},
	} {
		if strings.HasPrefix(entry, p.prefix) {
			return p.role
		}
	}
	return ""
}

// PoolRole returns what the goroutines of g do for net/http's client
// connection pool (one of the Pool* constants), or "" when they are not
// pool goroutines. Pool goroutines inherit the labels of whoever caused the
// dial, but belong to the pool and outlive that caller by design.
func (g Group) PoolRole() string {
	entry := g.Origin().Func
	role := poolRoleOf(entry)
	if role == PoolReader && topFunc(g.Stack) == entry {
		// Blocked in readLoop itself (a select), not in a read below
		// it: it waits for the response body to be closed.
		return PoolBody
	}
	return role
}

// topFunc returns the innermost frame's function outside the runtime.
func topFunc(stack []Frame) string {
	for _, f := range stack {
		if !strings.HasPrefix(f.Func, "runtime.") {
			return f.Func
		}
	}
	return ""
}

// PoolStats counts net/http client pool goroutines.
type PoolStats struct {
	Conns  int     `json:"conns"`  // connections: one read loop each
	Bodies int     `json:"bodies"` // of those, waiting for a response body to be closed
	Dials  int     `json:"dials"`  // dials and handshakes in progress
	Other  int     `json:"other"`  // write loops, HTTP/2 loops, helpers
	Groups []Group `json:"groups,omitempty"`
}

// Total returns the number of pool goroutines.
func (p PoolStats) Total() int { return Count(p.Groups) }

// SplitPool separates net/http client pool goroutines from the rest.
func SplitPool(groups []Group) (rest []Group, pool PoolStats) {
	for _, g := range groups {
		switch g.PoolRole() {
		case "":
			rest = append(rest, g)
			continue
		case PoolReader:
			pool.Conns += g.Count
		case PoolBody:
			pool.Conns += g.Count
			pool.Bodies += g.Count
		case PoolDial:
			pool.Dials += g.Count
		default:
			pool.Other += g.Count
		}
		pool.Groups = append(pool.Groups, g)
	}
	return rest, pool
}

// Owner names who owns the goroutines of g, without per-update detail:
// "pool" for net/http client pool goroutines, "handler <route>" for
// handler goroutines, "<component>" for tidygram's own, "test <name>" for
// a test checked by leaktest.Check, the other labels for labelled goroutines of
// other code, else "unlabelled".
func (g Group) Owner() string {
	if g.PoolRole() != "" {
		return "pool"
	}
	l := g.Labels
	switch {
	case l[LabelHandler] != "":
		return "handler " + l[LabelHandler]
	case l[LabelComponent] != "":
		return l[LabelComponent]
	case l[TestLabel] != "":
		return "test " + l[TestLabel]
	case len(l) > 0:
		return labelString(l)
	}
	return "unlabelled"
}

// Delta is the change of one set of goroutines between two dumps.
type Delta struct {
	Key    string `json:"key"`
	Before int    `json:"before"`
	After  int    `json:"after"`
	Group  Group  `json:"group"` // an example: from the later dump when there
}

// Growth returns After - Before.
func (d Delta) Growth() int { return d.After - d.Before }

// Diff compares two dumps by owner and stack (update and chat ids are
// ignored, so goroutines of one handler at one place count together) and
// returns what changed, fastest-growing first.
func Diff(before, after []Group) []Delta { return diff(before, after, stackKey) }

// DiffOwners compares two dumps by owner only (see [Group.Owner]),
// fastest-growing first.
func DiffOwners(before, after []Group) []Delta {
	return diff(before, after, func(g Group) string { return g.Owner() })
}

func stackKey(g Group) string {
	var sb strings.Builder
	sb.WriteString(g.Owner() + "\x00")
	writeStack(&sb, g.Stack)
	sb.WriteString("\x00" + g.CreatedBy.String())
	return sb.String()
}

func diff(before, after []Group, key func(Group) string) []Delta {
	m := map[string]*Delta{}
	var order []string
	add := func(g Group, later bool) {
		k := key(g)
		d, ok := m[k]
		if !ok {
			d = &Delta{Key: k, Group: g}
			d.Group.Count = 0
			m[k] = d
			order = append(order, k)
		}
		if later {
			d.After += g.Count
			if d.Group.Count == 0 {
				d.Group = g
			}
		} else {
			d.Before += g.Count
		}
	}
	for _, g := range before {
		add(g, false)
	}
	for _, g := range after {
		add(g, true)
	}
	var out []Delta
	for _, k := range order {
		if d := m[k]; d.Before != d.After {
			d.Group.Count = d.After
			if d.Group.Count == 0 {
				d.Group.Count = d.Before
			}
			out = append(out, *d)
		}
	}
	sortStableFunc(out, func(a, b Delta) int { return cmp.Compare(b.Growth(), a.Growth()) })
	return out
}

// OwnerCount is the number of goroutines of one owner.
type OwnerCount struct {
	Owner string `json:"owner"`
	Count int    `json:"count"`
}

// ByOwner counts goroutines by owner (see [Group.Owner]), largest first.
func ByOwner(groups []Group) []OwnerCount {
	idx := map[string]int{}
	var out []OwnerCount
	for _, g := range groups {
		o := g.Owner()
		i, ok := idx[o]
		if !ok {
			i = len(out)
			idx[o] = i
			out = append(out, OwnerCount{Owner: o})
		}
		out[i].Count += g.Count
	}
	sortStableFunc(out, func(a, b OwnerCount) int { return b.Count - a.Count })
	return out
}

// MergeUpdates merges groups that differ only in their update_id and
// chat_id labels (the goroutines of one handler at one place, over many
// updates), for display. A merged group's update_id and chat_id labels
// list the values, at most three and a count of the rest.
func MergeUpdates(groups []Group) []Group {
	type acc struct {
		g             Group
		updates, chat []string
	}
	idx := map[string]int{}
	var out []acc
	for _, g := range groups {
		base := map[string]string{}
		for k, v := range g.Labels {
			if k != LabelUpdateID && k != LabelChatID {
				base[k] = v
			}
		}
		var sb strings.Builder
		sb.WriteString(labelString(base) + "\x00" + g.State + "\x00")
		if g.Leaked > 0 {
			sb.WriteString("L")
		}
		writeStack(&sb, g.Stack)
		sb.WriteString("\x00" + g.CreatedBy.String())
		k := sb.String()
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			m := g
			m.Labels, m.Count, m.Leaked, m.Wait, m.IDs, m.CreatorIDs = base, 0, 0, 0, nil, nil
			out = append(out, acc{g: m})
		}
		a := &out[i]
		a.g.Count += g.Count
		a.g.Leaked += g.Leaked
		a.g.Wait = max(a.g.Wait, g.Wait)
		for _, id := range g.IDs {
			if len(a.g.IDs) < maxIDs {
				a.g.IDs = append(a.g.IDs, id)
			}
		}
		for _, id := range g.CreatorIDs {
			if len(a.g.CreatorIDs) < maxIDs && !slices.Contains(a.g.CreatorIDs, id) {
				a.g.CreatorIDs = append(a.g.CreatorIDs, id)
			}
		}
		if u, ok := g.Labels[LabelUpdateID]; ok && !slices.Contains(a.updates, u) {
			a.updates = append(a.updates, u)
		}
		if c, ok := g.Labels[LabelChatID]; ok && !slices.Contains(a.chat, c) {
			a.chat = append(a.chat, c)
		}
	}
	res := make([]Group, len(out))
	for i, a := range out {
		if len(a.updates) > 0 {
			a.g.Labels[LabelUpdateID] = listValues(a.updates)
		}
		if len(a.chat) > 0 {
			a.g.Labels[LabelChatID] = listValues(a.chat)
		}
		res[i] = a.g
	}
	return res
}

// listValues renders "a", "a, b, c" or "a, b, c and 4 more".
func listValues(vs []string) string {
	if len(vs) <= 3 {
		return strings.Join(vs, ", ")
	}
	return strings.Join(vs[:3], ", ") + " and " + strconv.Itoa(len(vs)-3) + " more"
}
