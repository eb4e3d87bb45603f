package tg_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// localFile returns the absolute file_path a --local server gives for a
// document with content sent by a user.
func localFile(t *testing.T, srv *tgtest.Server, c *tg.Client, ctx context.Context, content string) string {
	t.Helper()
	m, err := srv.NewUser("alice").SendDocument("report.txt", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.GetFile(ctx, &tg.GetFileParams{FileID: m.Document.FileID})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(f.FilePath) {
		t.Fatalf("file_path %q is not absolute", f.FilePath)
	}
	return f.FilePath
}

// TestDownloadLocalPathOverHTTP is the reported fault: without local mode
// an absolute path from a --local server is requested over HTTP, which
// such a server does not serve (404).
func TestDownloadLocalPathOverHTTP(t *testing.T) {
	srv, c, ctx := emulated(t, tgtest.WithLocalMode())
	p := localFile(t, srv, c, ctx, "numbers")
	var b bytes.Buffer
	_, err := c.Download(ctx, p, &b)
	var apiErr *tg.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 404 {
		t.Fatalf("want a 404 *APIError, got %v", err)
	}
}

func TestDownloadLocalServer(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t), tgtest.WithLocalMode())
	ctx := context.Background()
	newClient := func(opts ...tg.Option) *tg.Client {
		c, err := tg.NewClient(srv.Token(), append([]tg.Option{tg.WithBaseURL(srv.URL())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := newClient(tg.WithLocalServer())
	p := localFile(t, srv, c, ctx, "quarterly numbers")
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin") // over the cloud's 20 MiB download cap
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), tg.DefaultMaxDownloadBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	mapped := newClient(tg.WithLocalServer(), tg.WithLocalFiles("/var/lib/telegram-bot-api", filepath.Dir(p)))

	tests := []struct {
		name   string
		c      *tg.Client
		ctx    context.Context
		path   string
		want   string
		wantN  int64
		errIs  error
		errHas string
	}{
		{"absolute path read from disk", c, ctx, p, "quarterly numbers", 17, nil, ""},
		{"over the cloud cap", c, ctx, big, "", tg.DefaultMaxDownloadBytes + 1, nil, ""},
		{"over an explicit cap", newClient(tg.WithLocalServer(), tg.WithMaxDownloadBytes(8)), ctx, p, "", 0, tg.ErrTooLarge, ""},
		{"missing file", c, ctx, p + ".gone", "", 0, fs.ErrNotExist, ""},
		{"a directory", c, ctx, filepath.Join(dir, "sub"), "", 0, nil, "not a regular file"},
		{"cancelled", c, cancelled, p, "", 0, context.Canceled, ""},
		{"path translated", mapped, ctx, "/var/lib/telegram-bot-api/" + filepath.Base(p), "quarterly numbers", 17, nil, ""},
		{"outside the mapped directory", mapped, ctx, p, "", 0, tg.ErrLocalPath, ""},
		{"escaping the mapped directory", mapped, ctx, "/var/lib/telegram-bot-api/../../etc/passwd", "", 0, tg.ErrLocalPath, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			n, err := tt.c.Download(tt.ctx, tt.path, &b)
			switch {
			case tt.errIs != nil:
				if !errors.Is(err, tt.errIs) {
					t.Fatalf("want %v, got %v", tt.errIs, err)
				}
				return
			case tt.errHas != "":
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("want an error with %q, got %v", tt.errHas, err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if n != tt.wantN || int64(b.Len()) != n || tt.want != "" && b.String() != tt.want {
				t.Fatalf("got %d bytes (%d buffered), want %d %q", n, b.Len(), tt.wantN, tt.want)
			}
		})
	}

	// A relative path is still downloaded over HTTP in local mode.
	cloud := tgtest.NewServer(tgtest.WithTB(t))
	cc, err := tg.NewClient(cloud.Token(), tg.WithBaseURL(cloud.URL()), tg.WithLocalServer())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	m, _ := cloud.NewUser("bob").SendDocument("a.txt", []byte("over http"))
	f, err := cc.GetFile(ctx, &tg.GetFileParams{FileID: m.Document.FileID})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := cc.Download(ctx, f.FilePath, &b); err != nil || b.String() != "over http" {
		t.Fatalf("relative path in local mode: %q %v", b.String(), err)
	}

	// DownloadFile copies a local file into place.
	dst := filepath.Join(t.TempDir(), "copy.txt")
	if n, err := c.DownloadFile(ctx, p, dst); err != nil || n != 17 {
		t.Fatalf("DownloadFile: %d %v", n, err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "quarterly numbers" {
		t.Fatalf("DownloadFile wrote %q", got)
	}
}

// TestUploadLocalFile: a local server takes a file by its path on the
// server's machine, without the bytes passing through the client.
func TestUploadLocalFile(t *testing.T) {
	srv, c, ctx := emulated(t, tgtest.WithLocalMode())
	alice := srv.NewUser("alice")
	p := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(p, []byte("%PDF-1.4 invoice"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := c.SendDocument(ctx, &tg.SendDocumentParams{ChatID: tg.ID(alice.ChatID()), Document: tg.LocalFile(p)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.FileContent(m.Document.FileID)
	if err != nil || string(got) != "%PDF-1.4 invoice" {
		t.Fatalf("uploaded %q %v", got, err)
	}
	if f := tg.LocalFile(p); f.IsUpload() || f.Ref() != "file://"+p {
		t.Fatalf("LocalFile: upload=%v ref=%q", f.IsUpload(), f.Ref())
	}
}

func TestLocalServerOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []tg.Option
		wantErr bool
	}{
		{"local", []tg.Option{tg.WithLocalServer()}, false},
		{"files mapped", []tg.Option{tg.WithLocalFiles("/var/lib/telegram-bot-api", "/srv/tg")}, false},
		{"relative server dir", []tg.Option{tg.WithLocalFiles("var/lib", "/srv/tg")}, true},
		{"relative local dir", []tg.Option{tg.WithLocalFiles("/var/lib", "srv")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tg.NewClient("123:abc", tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewClient: %v, want error %v", err, tt.wantErr)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}
