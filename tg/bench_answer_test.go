package tg

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

// updatesAnswer is a getUpdates answer of 100 captured updates.
func updatesAnswer(b *testing.B) []byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "updates", "*.json"))
	var buf bytes.Buffer
	buf.WriteString(`{"ok":true,"result":[`)
	for i := 0; i < 100; i++ {
		data, err := os.ReadFile(files[i%len(files)])
		if err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(bytes.TrimSpace(data))
	}
	buf.WriteString(`]}`)
	return buf.Bytes()
}

// BenchmarkDecodeUpdatesAnswer decodes a getUpdates answer of 100 updates
// as the Client does: streamed, element by element, at most limit.
func BenchmarkDecodeUpdatesAnswer(b *testing.B) {
	data := updatesAnswer(b)
	red := newRedactor(testToken)
	lim := limitsOf(DefaultMaxResponseBytes, 100, red)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var ups []Update
		if err := decodeAnswer("getUpdates", 200, bytes.NewReader(data), &ups, lim, red); err != nil || len(ups) != 100 {
			b.Fatal(err, len(ups))
		}
	}
}

// BenchmarkDecodeUpdatesWhole decodes the same answer held whole with one
// json.Unmarshal, for comparison.
func BenchmarkDecodeUpdatesWhole(b *testing.B) {
	data := updatesAnswer(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var env struct {
			OK     bool     `json:"ok"`
			Result []Update `json:"result"`
		}
		if err := json.Unmarshal(data, &env); err != nil || len(env.Result) != 100 {
			b.Fatal(err)
		}
	}
}

// BenchmarkSkipUpdatesAnswer reads the same updates as a poller that holds
// every one already (all redelivered), update_id first as Telegram sends
// it: each is skipped by its id, none decoded. Compare with
// BenchmarkDecodeUpdatesAnswer.
func BenchmarkSkipUpdatesAnswer(b *testing.B) {
	var ans struct{ Result []map[string]json.RawMessage }
	if err := json.Unmarshal(updatesAnswer(b), &ans); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString(`{"ok":true,"result":[`)
	for i, u := range ans.Result {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"update_id":%s`, u["update_id"])
		delete(u, "update_id")
		for _, k := range slices.Sorted(maps.Keys(u)) {
			fmt.Fprintf(&buf, `,%q:%s`, k, u[k])
		}
		buf.WriteByte('}')
	}
	buf.WriteString(`]}`)
	data := buf.Bytes()
	red := newRedactor(testToken)
	lim := limitsOf(DefaultMaxResponseBytes, 100, red)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := &skippingUpdates{skip: func(int64) bool { return true }, limit: 100}
		if err := decodeAnswer("getUpdates", 200, bytes.NewReader(data), r, lim, red); err != nil || r.skipped != 100 {
			b.Fatal(err, r.skipped, len(r.ups))
		}
	}
}

// textUpdatesAnswer is a getUpdates answer of 100 text messages shaped as
// the benchmarks' fake Bot API sends them, update_ids from first.
func textUpdatesAnswer(first int64) []byte {
	b := []byte(`{"ok":true,"result":[`)
	for i := range int64(100) {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"update_id":%d,"message":{"message_id":%d,"date":1700000000,"chat":{"id":%d,"type":"private","first_name":"x"},"from":{"id":%d,"is_bot":false,"first_name":"x"},"text":"hello %d"}}`,
			first+i, i+1, 1000+i, 1000+i, i)
	}
	return append(b, `]}`...)
}

// BenchmarkPollTextUpdates reads a 100-update answer as the poller does
// (GetUpdatesFunc's decoding, each update passed as decoded), 20 of them
// held already and skipped by id, as in the S1 runs of benchmarks/ (about
// 0.2 redelivered per update).
func BenchmarkPollTextUpdates(b *testing.B) {
	data := textUpdatesAnswer(1)
	red := newRedactor(testToken)
	lim := limitsOf(DefaultMaxResponseBytes, 100, red)
	held := func(id int64) bool { return id <= 20 }
	passed := 0
	pass := func(*Update) error { passed++; return nil }
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := &skippingUpdates{skip: held, fn: pass, limit: 100}
		if err := decodeAnswer("getUpdates", 200, bytes.NewReader(data), r, lim, red); err != nil || r.skipped != 20 {
			b.Fatal(err, r.skipped)
		}
	}
	if passed != 80*b.N {
		b.Fatalf("%d updates passed, want %d", passed, 80*b.N)
	}
}
