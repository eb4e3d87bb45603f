package heap_test

import (
	"bytes"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/leak/heap"
)

// holder keeps what the pattern functions keep, as a package variable or
// a long-lived value would.
type holder struct {
	bodies  [][]byte
	index   map[int][16]int64
	log     [][32]byte
	cache   *photoCache
	builder strings.Builder
	heads   [][]byte
}

type photoCache struct{ m map[int][]byte }

//go:noinline
func (c *photoCache) Put(k int) { c.m[k] = make([]byte, 8<<10) }

//go:noinline
func readBodies(h *holder) {
	for range 16 {
		b, _ := io.ReadAll(bytes.NewReader(make([]byte, 128<<10)))
		h.bodies = append(h.bodies, b)
	}
}

//go:noinline
func indexEverything(h *holder) {
	for i := range 30000 {
		h.index[len(h.index)+i] = [16]int64{}
	}
}

//go:noinline
func appendLog(h *holder) {
	for range 60000 {
		h.log = append(h.log, [32]byte{})
	}
}

//go:noinline
func fillCache(h *holder) {
	for i := range 256 {
		h.cache.Put(len(h.cache.m) + i)
	}
}

//go:noinline
func buildReport(h *holder) {
	line := strings.Repeat("x", 1023) + "\n"
	for range 4096 {
		h.builder.WriteString(line)
	}
}

//go:noinline
func waitLoop(*holder) {
	for range 60000 {
		select {
		case <-time.After(time.Hour):
		default:
		}
	}
}

//go:noinline
func keepHeads(h *holder) {
	for range 16 {
		b := make([]byte, 128<<10)
		h.heads = append(h.heads, b[:16]) // the whole 128 KiB stays alive
	}
}

// Each known pattern, made for real in this process, is found at the
// function that makes it.
func TestPatternsInProcess(t *testing.T) {
	tests := []struct {
		fn      func(*holder)
		site    string
		id      string
		verdict heap.Verdict
	}{
		{readBodies, "readBodies", "read-whole", heap.VerdictLeak},
		{indexEverything, "indexEverything", "unbounded-collection", heap.VerdictLeak},
		{appendLog, "appendLog", "unbounded-collection", heap.VerdictLeak},
		{fillCache, "(*photoCache).Put", "cache-no-eviction", heap.VerdictLeak},
		{buildReport, "buildReport", "buffer-kept", heap.VerdictLeak},
		{waitLoop, "waitLoop", "time-after-loop", heap.VerdictChurn},
		{keepHeads, "keepHeads", "large-retained", heap.VerdictLeak},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.site, func(t *testing.T) {
			h := &holder{index: map[int][16]int64{}, cache: &photoCache{m: map[int][]byte{}}}
			tt.fn(h) // warm up: first buckets, first growth
			before := profile(t)
			tt.fn(h)
			tt.fn(h)
			d, err := heap.Compare(before, profile(t), heap.WithTop(100))
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(d.Findings, func(f heap.Finding) bool {
				return f.ID == tt.id && strings.HasSuffix(f.Sites[0].Func, "."+tt.site)
			})
			if i < 0 {
				for _, g := range d.Sites {
					t.Logf("%s %s %s", g.Verdict, heap.FormatDelta(g.InuseDelta), g.Where())
				}
				t.Fatalf("no %s finding at %s: %+v", tt.id, tt.site, d.Findings)
			}
			if got := d.Findings[i].Sites[0].Verdict; got != tt.verdict {
				t.Errorf("verdict %s, want %s", got, tt.verdict)
			}
			runtime.KeepAlive(h)
		})
	}
}
