// Command files is a bot that receives and sends files. Send it a text
// document: it streams the file from Telegram, upper-cases its ASCII
// letters and streams the result back as a new document while it is still
// downloading — the file is never held in memory — then replies with the
// size and SHA-256 of what it received. /sample sends a file generated in
// memory.
//
//	TELEGRAM_TOKEN=123:abc go run ./examples/files
//
// TELEGRAM_API_URL sets the Bot API's base URL (default the real one).
// SIGINT or SIGTERM stops it gracefully and it exits 0.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/examples/internal/exlog"
	"github.com/tidygram/tidygram/tg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

// maxDownload is the largest file the Bot API lets a bot download (20 MB).
const maxDownload = 20 << 20

// run serves until ctx ends; it returns nil after a clean stop.
func run(ctx context.Context, getenv func(string) string) error {
	// life logs three lines: starting, connected (as whom), stopped.
	life := exlog.Starting("files")
	bot, err := tidygram.NewFromEnv(getenv, life.Option())
	if err != nil {
		return err
	}
	bot.On(func(u *tg.Update) bool { return u.Message != nil && u.Message.Document != nil }, upperCase)
	bot.OnCommand("sample", func(c *tidygram.Context) error {
		csv := "drink,price\ntea,2.50\ncoffee,3.00\n"
		_, err := c.Client.SendDocument(c, &tg.SendDocumentParams{
			ChatID:   tg.ID(c.Chat().ID),
			Document: tg.FileReader("sample.csv", strings.NewReader(csv)),
			Caption:  "A file made in memory.",
		})
		return err
	})
	bot.OnText(func(c *tidygram.Context) error {
		return c.Reply("Send me a text file, or /sample.")
	})
	return life.Run(ctx, bot)
}

// upperCase downloads the document into a pipe and uploads the other end
// of the pipe at the same time.
func upperCase(c *tidygram.Context) error {
	doc := c.Update.Message.Document
	if doc.FileSize > maxDownload {
		return c.Reply(fmt.Sprintf("%s is too large: bots can download at most 20 MB.", doc.FileName))
	}
	f, err := c.Client.GetFile(c, &tg.GetFileParams{FileID: doc.FileID})
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	sum := sha256.New()
	var size int64
	downloaded := make(chan error, 1)
	// The download runs beside the upload and is awaited below, before
	// the handler returns: it does not outlive the handler, so a plain go
	// statement is right here (work that outlives a handler uses c.Go).
	go func() {
		n, err := c.Client.Download(c, f.FilePath, io.MultiWriter(sum, upperWriter{pw}))
		size = n
		pw.CloseWithError(err) // nil: the upload reads EOF
		downloaded <- err
	}()
	_, upErr := c.Client.SendDocument(c, &tg.SendDocumentParams{
		ChatID:   tg.ID(c.Chat().ID),
		Document: tg.FileReader("UPPER-"+doc.FileName, pr),
	})
	pr.CloseWithError(errors.New("upload ended")) // a download still writing stops
	if err := <-downloaded; err != nil {
		return fmt.Errorf("download %s: %w", doc.FileName, err)
	}
	if upErr != nil {
		return upErr
	}
	return c.Reply(fmt.Sprintf("%s: %d bytes, sha256 %x", doc.FileName, size, sum.Sum(nil)))
}

// upperWriter upper-cases ASCII letters on their way to w. Other bytes,
// UTF-8 sequences included, pass unchanged, so chunks may split anywhere.
type upperWriter struct{ w io.Writer }

func (u upperWriter) Write(p []byte) (int, error) {
	buf := make([]byte, len(p))
	for i, b := range p {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		buf[i] = b
	}
	return u.w.Write(buf)
}
