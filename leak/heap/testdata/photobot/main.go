// Command photobot is a test program of package heap: a tidygram bot that
// downloads every photo it is sent. With -keep its handler, savePhoto,
// keeps every photo's bytes in a package-level map that never shrinks (a
// heap leak); without, hashPhoto hashes each photo and keeps nothing,
// allocating as much (churn). It serves tidygram's ops server, with the
// token in TIDYGRAM_OPS_TOKEN, on 127.0.0.1:0 and prints "ops <URL>" on
// stdout. It samples every 4 KiB allocated in its heap profile (the
// runtime's default is 512 KiB), so that a test's few megabytes show
// exactly.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/ops"
	"github.com/tidygram/tidygram/tg"
)

// photos is the leak: every photo ever received, by its unique ID.
var (
	mu     sync.Mutex
	photos = map[string][]byte{}
)

func main() {
	runtime.MemProfileRate = 4096
	keep := flag.Bool("keep", false, "keep every photo in memory (the leak)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *keep); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, keep bool) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The ops server runs as the bot's service and knows its routes
	// (/debug/routes): heap reports name the route of a handler.
	bot, err := tidygram.NewFromEnv(os.Getenv, ops.ForBot(ops.WithListener(ln), ops.WithToken(os.Getenv("TIDYGRAM_OPS_TOKEN"))))
	if err != nil {
		ln.Close()
		return err
	}
	handler := hashPhoto
	if keep {
		handler = savePhoto
	}
	bot.Handle("photo", func(u *tg.Update) bool { return u.Message != nil && len(u.Message.Photo) > 0 }, handler)
	fmt.Printf("ops http://%s\n", ln.Addr())
	return bot.Run(ctx)
}

// download reads the photo of c's message whole.
func download(c *tidygram.Context) (id string, data []byte, err error) {
	p := c.Update.Message.Photo[len(c.Update.Message.Photo)-1]
	f, err := c.Client.GetFile(c, &tg.GetFileParams{FileID: p.FileID})
	if err != nil {
		return "", nil, err
	}
	var buf bytes.Buffer
	if _, err := c.Client.Download(c, f.FilePath, &buf); err != nil {
		return "", nil, err
	}
	return p.FileUniqueID, buf.Bytes(), nil
}

// savePhoto keeps the photo forever: the leak.
func savePhoto(c *tidygram.Context) error {
	id, data, err := download(c)
	if err != nil {
		return err
	}
	mu.Lock()
	photos[id] = data
	n := len(photos)
	mu.Unlock()
	return c.Reply(fmt.Sprintf("saved, %d photos", n))
}

// hashPhoto keeps nothing: the photo is garbage once hashed.
func hashPhoto(c *tidygram.Context) error {
	_, data, err := download(c)
	if err != nil {
		return err
	}
	return c.Reply(fmt.Sprintf("sha256 %x", sha256.Sum256(data)))
}
