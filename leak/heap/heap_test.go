package heap_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/leak/heap"
)

// profile returns this process's heap profile after a GC, parsed.
func profile(t testing.TB) *heap.Profile {
	t.Helper()
	runtime.GC()
	data, err := leak.HeapProfile()
	if err != nil {
		t.Fatal(err)
	}
	p, err := heap.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// store keeps what it is given, like a package-level map would.
type store struct{ kept map[int][]byte }

//go:noinline
func (s *store) keepChunk(i int) { s.kept[i] = make([]byte, 64<<10) }

//go:noinline
func churnChunk(i, size int) byte {
	b := make([]byte, size) // not a constant size: on the heap

	b[i%len(b)] = byte(i)
	sum := sha256.Sum256(b)
	return sum[0]
}

func find(d *heap.Diff, fn string) (heap.Growth, bool) {
	i := slices.IndexFunc(d.Sites, func(g heap.Growth) bool { return strings.HasSuffix(g.Func, fn) })
	if i < 0 {
		return heap.Growth{}, false
	}
	return d.Sites[i], true
}

// Memory kept from profile to profile is a leak at the function that
// allocated it; memory allocated and dropped is churn; both in this
// process, profiled by the runtime.
func TestSeriesVerdictsInProcess(t *testing.T) {
	s := &store{kept: map[int][]byte{}}
	var sink byte
	series, err := heap.NewSeries(heap.WithTop(50))
	if err != nil {
		t.Fatal(err)
	}
	const rounds, perRound = 4, 16 // 1 MiB kept per round
	for r := range rounds {
		for i := range perRound {
			s.keepChunk(r*perRound + i)
			for range 4 {
				sink += churnChunk(i, 64<<10)
			}
		}
		series.Add(profile(t), heap.Runtime{})
	}
	d, err := series.Diff()
	if err != nil {
		t.Fatal(err)
	}
	keep, ok := find(d, ".(*store).keepChunk")
	if !ok || keep.Verdict != heap.VerdictLeak || len(keep.Series) != rounds {
		t.Fatalf("keepChunk: %+v (found %v); sites %+v", keep, ok, d.Sites)
	}
	if want := int64((rounds - 1) * perRound * 64 << 10); keep.InuseDelta < want*3/4 || keep.InuseDelta > want*5/4 {
		t.Errorf("keepChunk grew %d, want about %d", keep.InuseDelta, want)
	}
	churn, ok := find(d, ".churnChunk")
	if !ok || churn.Verdict != heap.VerdictChurn {
		t.Errorf("churnChunk: %+v (found %v)", churn, ok)
	}
	if got := d.Growing(); len(got) != 1 || got[0].Key() != keep.Key() {
		t.Errorf("growing sites: %+v", got)
	}
	runtime.KeepAlive(s)
	_ = sink
}

// One profile: the site holding the most comes first, and the map that
// holds it is explained.
func TestAnalyzeInProcess(t *testing.T) {
	s := &store{kept: map[int][]byte{}}
	for i := range 64 { // 4 MiB
		s.keepChunk(i)
	}
	r, err := heap.Analyze(profile(t), heap.WithMinGrowth(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	top := r.BySpace[0]
	if !strings.HasSuffix(top.Func, ".(*store).keepChunk") || top.Values[heap.InuseSpace] < 3<<20 || top.Values[heap.InuseObjects] < 48 {
		t.Errorf("top site %+v", top)
	}
	if len(r.Findings) == 0 || r.Findings[0].ID != "large-retained" && r.Findings[0].ID != "unbounded-collection" {
		t.Errorf("findings %+v", r.Findings)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil || !strings.Contains(text.String(), "keepChunk") {
		t.Errorf("text: %v\n%s", err, text.String())
	}
	runtime.KeepAlive(s)
}

func TestDetect(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	tests := []struct {
		in   []byte
		want heap.Kind
	}{
		{gz([]byte("x")), heap.KindProfile},
		{[]byte("heap profile: 1: 2 [3: 4] @ heap/1048576\n"), heap.KindProfile},
		{[]byte{0x5a, 0x04, 0x08, 0x01}, heap.KindProfile}, // period_type first, as the runtime writes it
		{[]byte{0x0a, 0x04, 0x08, 0x01}, heap.KindProfile}, // sample_type first
		{[]byte("goroutine profile: total 4\n"), heap.KindGoroutine},
		{[]byte("\n\ngoroutine 1 [running]:\n"), heap.KindGoroutine},
		{[]byte("not a dump"), heap.KindUnknown},
		{nil, heap.KindUnknown},
	}
	for _, tt := range tests {
		if got := heap.Detect(tt.in); got != tt.want {
			t.Errorf("Detect(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	var goroutines bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&goroutines, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"text", []byte("hello"), heap.ErrFormat},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, heap.ErrFormat},
		{"truncated protobuf", []byte{0x0a, 0x40, 0x08}, heap.ErrFormat},
		{"goroutine profile", goroutines.Bytes(), heap.ErrNotHeap},
	}
	for _, tt := range tests {
		if _, err := heap.Parse(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestReadMetrics(t *testing.T) {
	p := profile(t)
	exposition := `# TYPE go_memstats_heap_alloc_bytes gauge
go_memstats_heap_alloc_bytes 7.5e+06
# TYPE go_memstats_next_gc_bytes gauge
go_memstats_next_gc_bytes 1.2e+07
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0.0001
go_gc_duration_seconds_sum 0.01
go_gc_duration_seconds_count 8
`
	rt, err := heap.ReadMetrics(strings.NewReader(exposition), p)
	if err != nil || rt.Source != "metrics" || rt.HeapAlloc != 7500000 || rt.NextGC != 12000000 || rt.NumGC != 8 || rt.HeapInuse != -1 || rt.ProfileInuse <= 0 {
		t.Errorf("ReadMetrics = %+v, %v", rt, err)
	}
	if _, err := heap.ReadMetrics(strings.NewReader("go_memstats_heap_alloc_bytes{ 1\n"), p); err == nil {
		t.Error("a broken exposition was read")
	}
}

// Parse never panics, and what it accepts can be analysed and compared.
func FuzzParse(f *testing.F) {
	var b bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&b, 0); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte("heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1 0x2\n"))
	f.Add([]byte("goroutine profile: total 1\n"))
	f.Add([]byte{0x5a, 0x04, 0x08, 0x01, 0x10, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := heap.Parse(data)
		if err != nil {
			if !errors.Is(err, heap.ErrFormat) && !errors.Is(err, heap.ErrNotHeap) {
				t.Fatalf("error %v wraps neither ErrFormat nor ErrNotHeap", err)
			}
			return
		}
		if heap.Detect(data) != heap.KindProfile {
			t.Fatalf("parsed, but Detect says %v", heap.Detect(data))
		}
		if _, err := heap.Analyze(p); err != nil {
			t.Fatal(err)
		}
		if _, err := heap.Compare(p, p); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOptionsChecked(t *testing.T) {
	p := profile(t)
	for _, o := range []heap.Option{heap.WithTop(0), heap.WithMinGrowth(-1), heap.WithRoute("photo", "not a function")} {
		if _, err := heap.Analyze(p, o); err == nil {
			t.Errorf("option accepted")
		}
		data, _ := leak.HeapProfile()
		if _, err := heap.Explainer(o).ExplainHeap(data, data, 5); err == nil {
			t.Errorf("explainer with a bad option explained")
		}
	}
	if _, err := heap.Analyze(p, heap.WithRoute("photo", churnChunk)); err != nil {
		t.Error(err)
	}
}

// The text form (?debug=1) is a heap profile too.
func TestParseText(t *testing.T) {
	var b bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	p, err := heap.Parse(b.Bytes())
	if err != nil {
		t.Fatalf("%v\n%.300s", err, b.String())
	}
	r, err := heap.Analyze(p)
	if err != nil || r.Sites == 0 || r.Total[heap.AllocObjects] == 0 {
		t.Errorf("%v %+v", err, r)
	}
}
