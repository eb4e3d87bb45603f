package tg

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

// fileServer serves file:<path> requests of a fakeAPI from files; names
// starting with "chunked/" are sent without a Content-Length.
func fileServer(files map[string]string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, method string) {
		name, ok := strings.CutPrefix(method, "file:")
		content, found := files[name]
		if !ok || !found || r.Method != http.MethodGet {
			desc, _ := json.Marshal("Not Found: file " + name)
			writeAnswer(w, 404, `{"ok":false,"error_code":404,"description":`+string(desc)+`}`)
			return
		}
		if !strings.HasPrefix(name, "chunked/") {
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		}
		for i := 0; i < len(content); i += 512 {
			io.WriteString(w, content[i:min(i+512, len(content))])
			w.(http.Flusher).Flush()
		}
	}
}

func TestDownload(t *testing.T) {
	const max = 4096
	small := strings.Repeat("0123456789", 100)
	big := strings.Repeat("abcdefghij", 1000)
	f := newFakeAPI(t, fileServer(map[string]string{
		"documents/file_1.txt":      small,
		"photos/file 2 ü.jpg":       small,
		"documents/big.bin":         big,
		"chunked/big.bin":           big,
		"documents/exactly-max.bin": big[:max],
	}))
	c, bodies := f.countingClient(t, WithMaxDownloadBytes(max))
	cases := []struct {
		name, path string
		wantN      int
		check      func(t *testing.T, err error)
	}{
		{"small file", "documents/file_1.txt", len(small), nil},
		{"escaped path", "photos/file 2 ü.jpg", len(small), nil},
		{"exactly the cap", "documents/exactly-max.bin", max, nil},
		{"over the cap by Content-Length", "documents/big.bin", 0, wantErrTooLarge},
		{"over the cap, chunked", "chunked/big.bin", max, wantErrTooLarge},
		{"not found", "documents/missing.txt", 0, func(t *testing.T, err error) {
			var ae *APIError
			if !errors.As(err, &ae) || ae.ErrorCode != 404 || ae.Method != "download" {
				t.Fatalf("want *APIError 404 from download, got %T %v", err, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := c.Download(context.Background(), tc.path, &buf)
			if tc.check == nil && err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, err)
			}
			if n != int64(tc.wantN) || buf.Len() != tc.wantN {
				t.Fatalf("returned %d, wrote %d bytes; want %d", n, buf.Len(), tc.wantN)
			}
			if tc.wantN > 0 && buf.String() != big[:tc.wantN] && buf.String() != small {
				t.Fatal("wrong content")
			}
			if bodies.open.Load() != 0 {
				t.Fatal("a response body is open")
			}
		})
	}
}

func wantErrTooLarge(t *testing.T, err error) {
	t.Helper()
	var re *ResponseError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &re) {
		t.Fatalf("want *ResponseError wrapping ErrTooLarge, got %T %v", err, err)
	}
}

// failingWriter fails once it was given more than n bytes.
type failingWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestDownloadFailures(t *testing.T) {
	content := strings.Repeat("x", 10000)
	f := newFakeAPI(t, fileServer(map[string]string{"a.bin": content}))
	c, bodies := f.countingClient(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name  string
		ctx   context.Context
		path  string
		w     io.Writer
		check func(t *testing.T, n int64, err error)
	}{
		{"writer fails", context.Background(), "a.bin", &failingWriter{n: 1000}, func(t *testing.T, n int64, err error) {
			var ne *NetworkError
			if !errors.Is(err, errDiskFull) || errors.As(err, &ne) || n != 1000 {
				t.Fatalf("want the writer's error after 1000 bytes, got %d, %T %v", n, err, err)
			}
		}},
		{"ctx cancelled", cancelled, "a.bin", io.Discard, func(t *testing.T, n int64, err error) {
			if !errors.Is(err, context.Canceled) || n != 0 {
				t.Fatalf("want context.Canceled, got %d, %v", n, err)
			}
		}},
		{"empty path", context.Background(), "", io.Discard, func(t *testing.T, n int64, err error) {
			if err == nil || !strings.Contains(err.Error(), "empty file path") {
				t.Fatalf("got %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := c.Download(tc.ctx, tc.path, tc.w)
			tc.check(t, n, err)
			if bodies.open.Load() != 0 {
				t.Fatal("a response body is open")
			}
		})
	}
	// The failed writer's download drained the short rest of its body, so
	// the connection stayed reusable.
	if _, err := c.Download(context.Background(), "a.bin", io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := f.newConns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

// TestDownloadFile: the destination appears only complete; on failure
// neither it nor a temporary file remains.
func TestDownloadFile(t *testing.T) {
	content := strings.Repeat("y", 3000)
	f := newFakeAPI(t, fileServer(map[string]string{"ok.bin": content, "chunked/big.bin": strings.Repeat("z", 5000)}))
	c := f.client(t, WithMaxDownloadBytes(4000))
	cases := []struct {
		name, path string
		wantErr    bool
	}{
		{"success", "ok.bin", false},
		{"over the cap", "chunked/big.bin", true},
		{"not found", "missing.bin", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "out.bin")
			n, err := c.DownloadFile(context.Background(), tc.path, dst)
			entries, _ := os.ReadDir(dir)
			if tc.wantErr {
				if err == nil || len(entries) != 0 {
					t.Fatalf("err %v, %d files left in the directory", err, len(entries))
				}
				return
			}
			got, rerr := os.ReadFile(dst)
			if err != nil || rerr != nil || n != int64(len(content)) || string(got) != content || len(entries) != 1 {
				t.Fatalf("err %v/%v, n %d, %d bytes on disk, %d files", err, rerr, n, len(got), len(entries))
			}
		})
	}
	if _, err := c.DownloadFile(context.Background(), "ok.bin", filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Fatal("DownloadFile into a missing directory succeeded")
	}
}
