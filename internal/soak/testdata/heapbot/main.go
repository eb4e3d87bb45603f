// Command heapbot is a heap-leaking echo bot for the soak test: a
// tidygram bot whose text handler, remember, keeps a 128 KiB record of
// every message in a package-level slice that never shrinks. It serves
// tidygram's ops server on HEAPBOT_OPS_ADDR with the token in
// TIDYGRAM_OPS_TOKEN, reads TELEGRAM_API_URL and TELEGRAM_TOKEN, and exits
// 0 on SIGINT or SIGTERM.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/ops"
)

var (
	mu      sync.Mutex
	history [][]byte // the leak
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The ops server runs as the bot's service: it knows the bot's routes,
	// so the soak report names the route ("text") of a growing site.
	bot, err := tidygram.NewFromEnv(os.Getenv, ops.ForBot(ops.WithAddr(os.Getenv("HEAPBOT_OPS_ADDR")), ops.WithToken(os.Getenv("TIDYGRAM_OPS_TOKEN"))))
	if err != nil {
		log.Fatal(err)
	}
	bot.OnText(remember)
	if err := bot.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// remember keeps a record of every message, and echoes it.
func remember(c *tidygram.Context) error {
	rec := make([]byte, 128<<10)
	copy(rec, c.Update.Message.Text)
	mu.Lock()
	history = append(history, rec)
	mu.Unlock()
	return c.Reply("echo: " + c.Update.Message.Text)
}
