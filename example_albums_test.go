package tidygram_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/tgtest"
)

// An album (several files sent together) reaches one handler whole: the
// bot collects its parts before dispatch instead of running the handler
// per part.
func ExampleBot_OnAlbum() {
	srv := tgtest.NewServer()
	defer srv.Close()
	bot, err := tidygram.New(srv.Token(), tidygram.WithBaseURL(srv.URL()))
	if err != nil {
		log.Fatal(err)
	}
	bot.OnAlbum(func(c *tidygram.Context) error {
		names := ""
		for _, m := range c.Album() {
			names += " " + m.Document.FileName
		}
		return c.Reply(fmt.Sprintf("got %d files:%s", len(c.Album()), names))
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bot.Run(ctx) }()

	alice := srv.NewUser("Alice")
	_, err = alice.SendAlbum(
		tgtest.Media{Name: "front.pdf", Data: []byte("1")},
		tgtest.Media{Name: "back.pdf", Data: []byte("2")},
		tgtest.Media{Name: "receipt.pdf", Data: []byte("3")},
	)
	if err != nil {
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
	// Output: got 3 files: front.pdf back.pdf receipt.pdf
}
