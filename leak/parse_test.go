package leak

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) *Dump {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		line string
		want Goroutine
	}{
		{"goroutine 1 [running]:", Goroutine{ID: 1, State: "running"}},
		{"goroutine 19 [chan send (leaked), 3 minutes]:", Goroutine{ID: 19, State: "chan send", Leaked: true, Wait: 3}},
		{"goroutine 7 gp=0xc000007 m=nil [chan receive (nil chan)]:", Goroutine{ID: 7, State: "chan receive (nil chan)"}},
		{"goroutine 8 [select (durable), 12 minutes, locked to thread, synctest bubble 4]:",
			Goroutine{ID: 8, State: "select", Durable: true, Wait: 12, Locked: true, Bubble: 4}},
		{"goroutine 9 [chan receive (durable), synctest bubble 1]:", Goroutine{ID: 9, State: "chan receive", Durable: true, Bubble: 1}},
		{`goroutine 20 [sync.Mutex.Lock (leaked), 61 minutes labels:{"handler": "/start", "update_id": "7", "x": "a, b\"c]"}]:`,
			Goroutine{ID: 20, State: "sync.Mutex.Lock", Leaked: true, Wait: 61,
				Labels: map[string]string{"handler": "/start", "update_id": "7", "x": `a, b"c]`}}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			g, err := parseHeader(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if g.ID != tt.want.ID || g.State != tt.want.State || g.Leaked != tt.want.Leaked || g.Wait != tt.want.Wait ||
				g.Durable != tt.want.Durable || g.Locked != tt.want.Locked || g.Bubble != tt.want.Bubble ||
				labelString(g.Labels) != labelString(tt.want.Labels) {
				t.Errorf("got %+v, want %+v", g, tt.want)
			}
		})
	}
}

func TestParseDumpFrames(t *testing.T) {
	dump := `panic: boom

goroutine 21 [sleep labels:{"handler": "/poll", "update_id": "1000"}]:
time.Sleep(0x34630b8a000)
	/usr/local/go/src/runtime/time.go:363 +0x165
main.main.asHandler.func5.1()
	/app/main.go:95 +0x18
...additional frames elided...
created by main.(*Bot).handle.func5 in goroutine 20
	/app/main.go:93 +0x1f
exit status 2
`
	gs, err := ParseDump(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 {
		t.Fatalf("got %d goroutines, want 1", len(gs))
	}
	g := gs[0]
	want := []Frame{{"time.Sleep", "/usr/local/go/src/runtime/time.go", 363}, {"main.main.asHandler.func5.1", "/app/main.go", 95}}
	if len(g.Stack) != 2 || g.Stack[0] != want[0] || g.Stack[1] != want[1] {
		t.Errorf("stack %+v, want %+v", g.Stack, want)
	}
	if g.CreatedBy != (Frame{"main.(*Bot).handle.func5", "/app/main.go", 93}) || g.CreatorID != 20 || !g.Elided {
		t.Errorf("created by %+v in %d, elided %v", g.CreatedBy, g.CreatorID, g.Elided)
	}
	if g.Labels["handler"] != "/poll" || g.State != "sleep" {
		t.Errorf("labels %v state %q", g.Labels, g.State)
	}
}

func TestParseFormats(t *testing.T) {
	tests := []struct {
		file   string
		kind   string
		debug  int
		total  int
		leaked int
	}{
		{"outlived-update.txt", "goroutine", 2, 9, 0},
		{"outlived-update-debug1.txt", "goroutine", 1, 9, 0},
		{"proven.txt", "goroutineleak", 2, 25, 15},
		{"proven-debug1.txt", "goroutineleak", 1, 15, 15},
		{"body-not-closed.txt", "goroutine", 2, 124, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := readFixture(t, tt.file)
			leaked := 0
			for _, g := range d.Groups {
				leaked += g.Leaked
			}
			if d.Kind != tt.kind || d.Debug != tt.debug || d.Total() != tt.total || leaked != tt.leaked {
				t.Errorf("got kind %s debug %d total %d leaked %d, want %s %d %d %d", d.Kind, d.Debug, d.Total(), leaked, tt.kind, tt.debug, tt.total, tt.leaked)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"hello\nworld\n",
		"\x1f\x8b\x08\x00gzip",
		"goroutine profile: total 1\nx @ 0x1\n",
		"goroutine profile: total 1\n1 @ 0x1\n# labels: {bad\n",
		"goroutine x [running]:\n",
		`goroutine 1 [running labels:{"a" "b"}]:` + "\n",
	} {
		if _, err := Parse(strings.NewReader(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("Parse(%q) = %v, want ErrFormat", in, err)
		}
	}
}

func TestSnapshotAndGoroutinesAgree(t *testing.T) {
	groups, err := Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := Goroutines()
	if err != nil {
		t.Fatal(err)
	}
	if Count(groups) < 1 || len(gs) < 1 {
		t.Fatalf("snapshot %d, dump %d goroutines", Count(groups), len(gs))
	}
	for name, groups := range map[string][]Group{"debug=1": groups, "debug=2": GroupGoroutines(gs)} {
		found := false
		for _, g := range groups {
			for _, f := range g.Stack {
				found = found || strings.HasSuffix(f.Func, "TestSnapshotAndGoroutinesAgree") && strings.HasSuffix(f.File, "parse_test.go")
			}
		}
		if !found {
			t.Errorf("%s: no frame of the test itself:\n%s", name, Format(groups))
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"outlived-update.txt", "outlived-update-debug1.txt", "proven.txt", "proven-debug1.txt", "lost-labels.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 2048)]) // small seeds keep the fuzzer fast
	}
	f.Add([]byte(`goroutine 20 [sync.Mutex.Lock (leaked), 61 minutes labels:{"k": "v\"}"}]:` + "\nmain.f(...)\n\t/a.go:1 +0x1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not wrapping ErrFormat: %v", err)
			}
			return
		}
		if d.Total() < 0 {
			t.Fatalf("negative total")
		}
		// Everything downstream must cope with whatever parsed.
		a := Analyze(d)
		var buf bytes.Buffer
		if err := a.WriteText(&buf, 5); err != nil {
			t.Fatal(err)
		}
		Diff(d.Groups, d.Groups)
	})
}

func TestParseProfileWanted(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "outlived-update-debug1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gs, err := parseProfile(f, `"handler":"/remind"`)
	if err != nil {
		t.Fatal(err)
	}
	if Count(gs) != 5 {
		t.Errorf("kept %d goroutines, want the 5 of /remind:\n%s", Count(gs), Format(gs))
	}
	for _, g := range gs {
		if g.Labels[LabelHandler] != "/remind" || len(g.Stack) == 0 {
			t.Errorf("kept %+v", g)
		}
	}
}
