package tg

import (
	"bytes"
	"os"
	"path/filepath"
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
	lim := answerLimits{maxBytes: DefaultMaxResponseBytes, maxItems: 100, head: 64 + red.window() + 1}
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
