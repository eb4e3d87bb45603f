package tg

import (
	"bytes"
	"context"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/tidygram/tidygram/internal/wait"
)

// testMedia and testSendMediaGroup stand in for generated params that carry
// uploads, nested and at the top level.
type testMedia struct {
	Type    string     `json:"type"`
	Media   *InputFile `json:"media"`
	Caption string     `json:"caption,omitempty"`
}

type testMarkup struct {
	Keyboard [][]string `json:"keyboard"`
}

type testSendMediaGroup struct {
	ChatID   ChatID      `json:"chat_id"`
	Media    []testMedia `json:"media"`
	Document *InputFile  `json:"document,omitempty"`
	Silent   bool        `json:"disable_notification,omitempty"`
	Markup   *testMarkup `json:"reply_markup,omitempty"`
	Offset   *int64      `json:"offset,omitempty"`
	Caption  string      `json:"caption,omitempty"`
}

func (p *testSendMediaGroup) appendUploads(dst []*InputFile) []*InputFile {
	for _, m := range p.Media {
		if m.Media.IsUpload() {
			dst = append(dst, m.Media)
		}
	}
	if p.Document.IsUpload() {
		dst = append(dst, p.Document)
	}
	return dst
}

type testSendDocument struct {
	ChatID   ChatID     `json:"chat_id"`
	Document *InputFile `json:"document"`
}

func (p *testSendDocument) appendUploads(dst []*InputFile) []*InputFile {
	if p.Document.IsUpload() {
		dst = append(dst, p.Document)
	}
	return dst
}

// formSummary is what the multipart server answers: the plain fields and,
// per file part, its size and CRC-32 (the server streams file parts, it
// never holds one).
type formSummary struct {
	ContentType string            `json:"content_type"`
	Fields      map[string]string `json:"fields"`
	Files       []partSummary     `json:"files"`
}

type partSummary struct {
	Name     string `json:"name"`
	FileName string `json:"file_name"`
	Size     int64  `json:"size"`
	CRC      uint32 `json:"crc"`
	Head     string `json:"head"` // at most the first 32 bytes
}

// summarizeForm streams a multipart request and answers its formSummary.
func summarizeForm(w http.ResponseWriter, r *http.Request) {
	mr, err := r.MultipartReader()
	if err != nil {
		writeAnswer(w, 400, `{"ok":false,"error_code":400,"description":"not multipart"}`)
		return
	}
	sum := formSummary{ContentType: r.Header.Get("Content-Type"), Fields: map[string]string{}}
	buf := make([]byte, 64<<10)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeAnswer(w, 400, `{"ok":false,"error_code":400,"description":"bad multipart"}`)
			return
		}
		if p.FileName() == "" {
			v, _ := io.ReadAll(p)
			sum.Fields[p.FormName()] = string(v)
			continue
		}
		h := &headHash{Hash32: crc32.NewIEEE()}
		n, err := io.CopyBuffer(h, p, buf)
		if err != nil {
			writeAnswer(w, 400, `{"ok":false,"error_code":400,"description":"broken part"}`)
			return
		}
		sum.Files = append(sum.Files, partSummary{Name: p.FormName(), FileName: p.FileName(), Size: n, CRC: h.Sum32(), Head: string(h.head)})
	}
	out, _ := json.Marshal(map[string]any{"ok": true, "result": sum})
	writeAnswer(w, 200, string(out))
}

// headHash hashes everything written and keeps the first 32 bytes.
type headHash struct {
	hash.Hash32
	head []byte
}

func (h *headHash) Write(p []byte) (int, error) {
	if k := 32 - len(h.head); k > 0 {
		h.head = append(h.head, p[:min(k, len(p))]...)
	}
	return h.Hash32.Write(p)
}

// genReader produces n pseudo-random bytes (a 4093-byte block repeated)
// without holding them, and hashes what it produced. n < 0 never ends.
type genReader struct {
	n     int64
	block []byte
	off   int
	crc   hash.Hash32
	fail  error // returned once n bytes were produced, instead of io.EOF
}

func newGenReader(n int64) *genReader {
	block := make([]byte, 4093)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	return &genReader{n: n, block: block, crc: crc32.NewIEEE()}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n == 0 {
		if g.fail != nil {
			return 0, g.fail
		}
		return 0, io.EOF
	}
	if g.n > 0 && int64(len(p)) > g.n {
		p = p[:g.n]
	}
	for n := 0; n < len(p); {
		k := copy(p[n:], g.block[g.off:])
		n += k
		g.off = (g.off + k) % len(g.block)
	}
	g.crc.Write(p)
	if g.n > 0 {
		g.n -= int64(len(p))
	}
	return len(p), nil
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMultipartForm: several uploads (one of them twice), references and
// JSON-valued fields arrive as the Bot API expects them.
func TestMultipartForm(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) { summarizeForm(w, r) })
	c, bodies := f.countingClient(t)
	shared := FileReader("c.txt", strings.NewReader("charlie"))
	offset := int64(0)
	p := &testSendMediaGroup{
		ChatID: ID(-1001),
		Media: []testMedia{
			{Type: "photo", Media: FileReader("a.txt", strings.NewReader("alpha")), Caption: `say "hi"`},
			{Type: "photo", Media: FilePath(writeTemp(t, "b.bin", "bravo"))},
			{Type: "photo", Media: shared},
			{Type: "photo", Media: FileID("AgACfileid")},
			{Type: "photo", Media: FileURL("https://example.org/x.jpg")},
			{Type: "photo", Media: FileReader("", strings.NewReader("nameless"))},
		},
		Document: shared,
		Silent:   true,
		Markup:   &testMarkup{Keyboard: [][]string{{"yes", "no"}}},
		Offset:   &offset,
		Caption:  "plain text, ünïcode",
	}
	var got formSummary
	if err := c.Call(context.Background(), "sendMediaGroup", p, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ContentType, "multipart/form-data; boundary=") {
		t.Fatalf("Content-Type %q", got.ContentType)
	}
	wantFields := map[string]string{
		"chat_id": "-1001",
		"media": `[{"type":"photo","media":"attach://file0","caption":"say \"hi\""},` +
			`{"type":"photo","media":"attach://file1"},{"type":"photo","media":"attach://file2"},` +
			`{"type":"photo","media":"AgACfileid"},{"type":"photo","media":"https://example.org/x.jpg"},` +
			`{"type":"photo","media":"attach://file3"}]`,
		"document":             "attach://file2",
		"disable_notification": "true",
		"reply_markup":         `{"keyboard":[["yes","no"]]}`,
		"offset":               "0",
		"caption":              "plain text, ünïcode",
	}
	if len(got.Fields) != len(wantFields) {
		t.Fatalf("fields %v, want %v", got.Fields, wantFields)
	}
	for k, v := range wantFields {
		if got.Fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, got.Fields[k], v)
		}
	}
	wantFiles := []partSummary{
		{Name: "file0", FileName: "a.txt", Head: "alpha"},
		{Name: "file1", FileName: "b.bin", Head: "bravo"},
		{Name: "file2", FileName: "c.txt", Head: "charlie"},
		{Name: "file3", FileName: "file3", Head: "nameless"},
	}
	if len(got.Files) != len(wantFiles) {
		t.Fatalf("files %+v, want %+v", got.Files, wantFiles)
	}
	for i, w := range wantFiles {
		w.Size, w.CRC = int64(len(w.Head)), crc32.ChecksumIEEE([]byte(w.Head))
		if got.Files[i] != w {
			t.Errorf("file %d = %+v, want %+v", i, got.Files[i], w)
		}
	}
	if bodies.open.Load() != 0 {
		t.Fatal("a response body is open")
	}
	// The part names belong to the call: afterwards an upload does not
	// encode outside a Client call.
	if _, err := json.Marshal(shared); !errors.Is(err, errUnattached) {
		t.Fatalf("after the call, encoding an upload gave %v, want errUnattached", err)
	}
}

// TestUploadGiB: a 1 GiB generated upload streams in constant memory and the
// server receives every byte.
func TestUploadGiB(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB upload skipped in -short mode")
	}
	const size = 1 << 30
	const maxAlloc = 16 << 20
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) { summarizeForm(w, r) })
	c := f.client(t)
	src := newGenReader(size)
	p := &testSendDocument{ChatID: ID(1), Document: FileReader("big.bin", src)}

	var got formSummary
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := c.Call(context.Background(), "sendDocument", p, &got)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("1 GiB upload: TotalAlloc %.2f MiB (client and server), %d mallocs", float64(alloc)/(1<<20), after.Mallocs-before.Mallocs)
	if alloc > maxAlloc {
		t.Errorf("TotalAlloc grew by %d bytes, want under %d", alloc, maxAlloc)
	}
	if len(got.Files) != 1 || got.Files[0].Size != size || got.Files[0].CRC != src.crc.Sum32() {
		t.Fatalf("server received %+v, want %d bytes with CRC %08x", got.Files, size, src.crc.Sum32())
	}
}

// TestUploadEnds: however an upload ends early, Call returns with the writer
// goroutine gone, the file closed and the response body closed.
func TestUploadEnds(t *testing.T) {
	const readBeforeActing = 4 << 20
	type mode int
	const (
		cancelCtx mode = iota
		apiError
		hangUp
		answerWithoutReading
	)
	cases := []struct {
		name  string
		mode  mode
		check func(t *testing.T, err error)
	}{
		{"ctx cancelled halfway", cancelCtx, func(t *testing.T, err error) {
			var ne *NetworkError
			if !errors.Is(err, context.Canceled) || !errors.As(err, &ne) {
				t.Fatalf("want a *NetworkError wrapping context.Canceled, got %T %v", err, err)
			}
		}},
		{"API error halfway", apiError, func(t *testing.T, err error) {
			var ae *APIError
			if !errors.As(err, &ae) || ae.ErrorCode != 400 {
				t.Fatalf("want *APIError 400, got %T %v", err, err)
			}
		}},
		{"connection broken halfway", hangUp, func(t *testing.T, err error) {
			var ne *NetworkError
			if !errors.As(err, &ne) || ne.NotSent() {
				t.Fatalf("want a sent *NetworkError, got %T %v", err, err)
			}
		}},
		{"answer before reading the upload", answerWithoutReading, func(t *testing.T, err error) {
			var ae *APIError
			if !errors.As(err, &ae) || ae.ErrorCode != 413 {
				t.Fatalf("want *APIError 413, got %T %v", err, err)
			}
		}},
	}
	sources := []struct {
		name string
		file func(path string) *InputFile
	}{
		{"FilePath", func(path string) *InputFile { return FilePath(path) }},
		{"FileReader", func(string) *InputFile { return FileReader("endless.bin", newGenReader(-1)) }},
	}

	var current atomic.Int32 // the mode, read by the handler
	halfway := make(chan struct{}, 1)
	proceed := make(chan struct{}, 1)
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		m := mode(current.Load())
		if m == answerWithoutReading {
			writeAnswer(w, 413, `{"ok":false,"error_code":413,"description":"Request Entity Too Large"}`)
			return
		}
		if _, err := io.CopyN(io.Discard, r.Body, readBeforeActing); err != nil {
			return
		}
		halfway <- struct{}{}
		<-proceed
		switch m {
		case cancelCtx:
			io.Copy(io.Discard, r.Body) // fails once the client has gone
		case apiError:
			writeAnswer(w, 400, `{"ok":false,"error_code":400,"description":"Bad Request: wrong file"}`)
		case hangUp:
			hijackWrite(w, "")
		}
	})
	c, bodies := f.countingClient(t)
	path := filepath.Join(t.TempDir(), "sparse.bin")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 256<<20); err != nil { // sparse: reads zeros, costs no disk
		t.Fatal(err)
	}

	for _, src := range sources {
		for _, tc := range cases {
			t.Run(src.name+"/"+tc.name, func(t *testing.T) {
				current.Store(int32(tc.mode))
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				errc := make(chan error, 1)
				p := &testSendDocument{ChatID: ID(1), Document: src.file(path)}
				go func() { errc <- c.Call(ctx, "sendDocument", p, nil) }()
				if tc.mode != answerWithoutReading {
					<-halfway
					// The checks below can fail: mid-upload they see the writer and the file.
					if n := uploadWriters(); n != 1 {
						t.Errorf("mid-upload: %d upload writers, want 1", n)
					}
					if n := openFDsTo(t, path); src.name == "FilePath" && n != 1 {
						t.Errorf("mid-upload: %d descriptors open on the file, want 1", n)
					}
					if tc.mode == cancelCtx {
						cancel()
					}
					proceed <- struct{}{}
				}
				err := <-errc
				tc.check(t, err)
				if n := uploadWritersAfter(); n != 0 {
					t.Errorf("after Call: %d upload writer goroutines left", n)
				}
				if n := openFDsTo(t, path); n != 0 {
					t.Errorf("after Call: %d descriptors open on the uploaded file", n)
				}
				if n := bodies.open.Load(); n != 0 {
					t.Errorf("after Call: %d response bodies open", n)
				}
			})
		}
	}
}

// TestUploadSourceFails: a file that cannot be opened or a reader that fails
// is reported as such, not as a network error, and nothing is left behind.
func TestUploadSourceFails(t *testing.T) {
	errBoom := errors.New("boom")
	failing := newGenReader(1 << 20)
	failing.fail = errBoom
	cases := []struct {
		name string
		file *InputFile
		want error
	}{
		{"missing file", FilePath(filepath.Join(t.TempDir(), "missing.jpg")), fs.ErrNotExist},
		{"reader fails after 1 MiB", FileReader("x.bin", failing), errBoom},
	}
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		writeAnswer(w, 200, `{"ok":true,"result":true}`)
	})
	c, bodies := f.countingClient(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Call(context.Background(), "sendDocument", &testSendDocument{ChatID: ID(1), Document: tc.file}, nil)
			var ne *NetworkError
			if !errors.Is(err, tc.want) || errors.As(err, &ne) || !strings.Contains(err.Error(), "upload") {
				t.Fatalf("want an upload error wrapping %v, got %T %v", tc.want, err, err)
			}
			if uploadWritersAfter() != 0 || bodies.open.Load() != 0 {
				t.Fatal("a writer goroutine or a response body is left")
			}
		})
	}
}

func TestFormFieldsRejectsNonObject(t *testing.T) {
	for _, params := range []any{[]string{"a"}, "text", nil} {
		if _, err := formFields(params); err == nil || !strings.Contains(err.Error(), "JSON object") {
			t.Errorf("formFields(%T): %v, want an error about a JSON object", params, err)
		}
	}
}

// uploadWriters counts the goroutines running an upload's writer.
func uploadWriters() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("tg.(*upload).write("))
}

// uploadWritersAfter counts upload writers after a Call returned. Call
// returns once the writer signalled its end (its file closed); the goroutine
// then still has its return to run, so a writer is given up to 10 s to go.
func uploadWritersAfter() int {
	var n int
	wait.For(10*time.Second, func() bool { n = uploadWriters(); return n == 0 })
	return n
}

// openFDsTo counts this process's descriptors open on path.
func openFDsTo(t *testing.T, path string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
			n++
		}
	}
	return n
}

// TestGeneratedParamsUpload: generated params find their uploads, nested in
// union values, and the Client streams them (one part for a file used twice).
func TestGeneratedParamsUpload(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) { summarizeForm(w, r) })
	c := f.client(t)
	thumb := FileReader("thumb.jpg", strings.NewReader("thumbnail"))
	p := &SendMediaGroupParams{ChatID: ID(-100), Media: []InputMedia{
		&InputMediaPhoto{Media: FileReader("p.jpg", strings.NewReader("photo"))},
		&InputMediaVideo{Media: FileReader("v.mp4", strings.NewReader("video")), Thumbnail: thumb, Cover: thumb},
		&InputMediaPhoto{Media: FileID("AgAC")},
	}}
	var got formSummary
	if err := c.Call(context.Background(), "sendMediaGroup", p, &got); err != nil {
		t.Fatal(err)
	}
	var media []map[string]any
	if err := json.Unmarshal([]byte(got.Fields["media"]), &media); err != nil || len(media) != 3 {
		t.Fatalf("media field %q: %v", got.Fields["media"], err)
	}
	refs := []string{media[0]["media"].(string), media[1]["media"].(string), media[1]["thumbnail"].(string), media[1]["cover"].(string), media[2]["media"].(string)}
	if want := "attach://file0 attach://file1 attach://file2 attach://file2 AgAC"; strings.Join(refs, " ") != want {
		t.Fatalf("references %v, want %s", refs, want)
	}
	var heads []string
	for _, p := range got.Files {
		heads = append(heads, p.Name+"="+p.Head)
	}
	if want := "file0=photo file1=video file2=thumbnail"; strings.Join(heads, " ") != want || got.Fields["chat_id"] != "-100" {
		t.Fatalf("parts %v, chat_id %q; want %s, -100", heads, got.Fields["chat_id"], want)
	}
}
