package leak

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestDiagnoseFixtures explains a dump of each catalogued pattern (see
// testdata/README.md for how each was made).
func TestDiagnoseFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []string // pattern ids that must be found; the first must rank first
		why  string   // must appear in the top finding's explanation
	}{
		{"body-not-closed.txt", []string{"body-not-closed"}, "40 of them waiting for their response body"},
		{"idle-conns.txt", []string{"idle-conns"}, "40 client connections"},
		{"outlived-update.txt", []string{"outlived-update"}, "handler /remind, update 90"},
		{"outlived-update-debug1.txt", []string{"outlived-update"}, "handler /remind"},
		{"sleep-loop.txt", []string{"sleep-loop"}, "(handler /poll, update 100"},
		{"select-forever.txt", []string{"select-forever"}, "select (no cases)"},
		{"nil-chan.txt", []string{"nil-chan"}, "chan receive (nil chan)"},
		{"ticker-loop.txt", []string{"ticker-loop"}, "6 identical goroutine(s)"},
		{"lost-labels.txt", []string{"lost-labels"}, "labelled job=export only"},
		{"blocked-hours.txt", []string{"blocked-hours"}, "187 min"},
		{"mutex-held.txt", []string{"mutex-held"}, "sync.Mutex.Lock"},
		{"server-conns.txt", []string{"server-conns"}, "120 server connection"},
		{"dial-stuck.txt", []string{"dial-stuck"}, "dial(s) waiting 3 min"},
		{"proven.txt", []string{"leaked-send", "leaked-receive", "leaked-waitgroup", "body-not-closed"}, "proven leaked"},
		{"proven-debug1.txt", []string{"proven", "body-not-closed"}, "proven leaked"},
		{"steady.txt", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := readFixture(t, tt.file)
			fs := Diagnose(d.Groups)
			var ids []string
			for _, f := range fs {
				ids = append(ids, f.ID)
			}
			if len(tt.want) == 0 {
				if len(fs) != 0 {
					t.Fatalf("steady dump explained as %v", ids)
				}
				return
			}
			for _, w := range tt.want {
				if !slices.Contains(ids, w) {
					t.Errorf("pattern %s not found; found %v", w, ids)
				}
			}
			if len(fs) == 0 {
				return
			}
			if !slices.Contains(tt.want, fs[0].ID) {
				t.Errorf("top finding %s, want one of %v (all: %v)", fs[0].ID, tt.want, ids)
			}
			if !strings.Contains(fs[0].Why, tt.why) || fs[0].Fix == "" || len(fs[0].Groups) == 0 {
				t.Errorf("top finding %+v: want why containing %q, a fix and groups", fs[0].Pattern, tt.why)
				t.Logf("why: %s", fs[0].Why)
			}
		})
	}
}

func TestCatalogueComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Catalogue() {
		if p.ID == "" || p.Title == "" || p.Fix == "" || seen[p.ID] {
			t.Errorf("bad or duplicate pattern %+v", p)
		}
		seen[p.ID] = true
	}
	if len(seen) < 15 {
		t.Errorf("catalogue has %d patterns", len(seen))
	}
}

func TestAnalyzeText(t *testing.T) {
	d := readFixture(t, "body-not-closed.txt")
	a := Analyze(d)
	if a.Pool.Conns != 40 || a.Pool.Bodies != 40 || a.Total != 124 {
		t.Errorf("pool %+v total %d", a.Pool, a.Total)
	}
	var buf bytes.Buffer
	if err := a.WriteText(&buf, 3); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"124 goroutines", "HTTP client pool: 40 connection(s), 40 waiting", "HTTP response bodies not closed", "fix: Close every response body", "Top 3 of"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestDiff(t *testing.T) {
	before := readFixture(t, "steady.txt").Groups
	after := readFixture(t, "outlived-update.txt").Groups
	ds := Diff(before, after)
	if len(ds) == 0 || ds[0].Growth() != 5 || !strings.HasPrefix(ds[0].Key, "handler /remind") {
		t.Fatalf("top delta %+v", ds)
	}
	owners := DiffOwners(before, after)
	if owners[0].Key != "handler /remind" || owners[0].Before != 0 || owners[0].After != 5 {
		t.Errorf("owner delta %+v", owners[0])
	}
	if d := Diff(after, after); len(d) != 0 {
		t.Errorf("a dump differs from itself: %+v", d)
	}
}
