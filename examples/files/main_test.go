package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func TestUpperCase(t *testing.T) {
	const n = 40_000 // ~1.9 MB: many chunks, UTF-8 split between some
	tests := []struct {
		name, content, want string
	}{
		{"notes.txt", "hello\nworld\n", "HELLO\nWORLD\n"},
		{"utf8.txt", "grüße, ça va? 日本", "GRüßE, çA VA? 日本"},
		{"big.txt", strings.Repeat("the quick brown fox — jumps över the lazy dog\n", n),
			strings.Repeat("THE QUICK BROWN FOX — JUMPS öVER THE LAZY DOG\n", n)},
	}
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := srv.NewUser("Alice")
			if _, err := u.SendDocument(tt.name, []byte(tt.content)); err != nil {
				t.Fatal(err)
			}
			doc := bottest.Reply(t, u)
			if doc.Document == nil || doc.Document.FileName != "UPPER-"+tt.name {
				t.Fatalf("first reply %+v, want the document UPPER-%s", doc, tt.name)
			}
			if got := fileContent(t, srv, doc.Document.FileID); !bytes.Equal(got, []byte(tt.want)) {
				t.Fatalf("content %.80q…, want %.80q…", got, tt.want)
			}
			want := fmt.Sprintf("%s: %d bytes, sha256 %x", tt.name, len(tt.content), sha256.Sum256([]byte(tt.content)))
			if m := bottest.Reply(t, u); m.Text != want {
				t.Fatalf("second reply %q, want %q", m.Text, want)
			}
		})
	}
}

func TestSample(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	u := srv.NewUser("Bob")
	bottest.Expect(t, u, "hi", "Send me a text file, or /sample.")
	if _, err := u.Command("sample", ""); err != nil {
		t.Fatal(err)
	}
	m := bottest.Reply(t, u)
	if m.Document == nil || m.Document.FileName != "sample.csv" || m.Caption != "A file made in memory." {
		t.Fatalf("got %+v", m)
	}
	if got := string(fileContent(t, srv, m.Document.FileID)); !strings.HasPrefix(got, "drink,price\n") {
		t.Fatalf("sample.csv: %q", got)
	}
}

// fileContent reads a file the bot uploaded. The emulator publishes the
// message a moment before it stores the file: it waits up to 2 s for it.
func fileContent(t *testing.T, srv *tgtest.Server, fileID string) []byte {
	t.Helper()
	var b []byte
	bottest.Eventually(t, 2*time.Second, "file "+fileID+" stored", func() bool {
		var err error
		b, err = srv.FileContent(fileID)
		return err == nil
	})
	return b
}
