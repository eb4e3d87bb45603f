package jetstream_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/jetstream"
	"github.com/tidygram/tidygram/tgtest"
)

// A bot with a durable spool on an embedded NATS server: the poller
// confirms an update to Telegram once the spool holds it; the handlers
// take it from the spool, which forgets it once the handler ended. A crash
// loses nothing the spool acknowledged.
func Example() {
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv := tgtest.NewServer() // a Bot API emulator on 127.0.0.1
	defer srv.Close()

	s, err := jetstream.Open(context.Background(), jetstream.Embedded(dir))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // after Run returned: the bot calls Done until then

	bot, err := tidygram.New(srv.Token(), tidygram.WithBaseURL(srv.URL()), tidygram.WithSpool(s))
	if err != nil {
		log.Fatal(err)
	}
	bot.OnText(func(c *tidygram.Context) error {
		return c.Reply("spooled: " + c.Text())
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bot.Run(ctx) }()

	alice := srv.NewUser("Alice")
	if _, err := alice.Send("hello"); err != nil {
		log.Fatal(err)
	}
	wait, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := alice.WaitReply(wait)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Text)

	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// spooled: hello
}

// Several instances of one bot share a spool on an external NATS cluster:
// each runs this with its own Instance id. One polls Telegram (the poll
// lease), each handles a share of the chats, in per-chat order.
func ExampleURL() {
	ctx := context.Background()
	s, err := jetstream.Open(ctx,
		jetstream.URL("nats://n1:4222,nats://n2:4222,nats://n3:4222", nats.UserCredentials("bot.creds")),
		jetstream.Replicas(3),
		jetstream.Instance(os.Getenv("HOSTNAME")),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	bot, err := tidygram.New(os.Getenv("TELEGRAM_TOKEN"), tidygram.WithSpool(s))
	if err != nil {
		log.Fatal(err)
	}
	_ = bot.Run(ctx)
}
