package tg_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// A send to a user who blocked the bot fails with an answer that
// errors.Is matches against tg.ErrBotBlocked.
func ExampleAPIError_Is() {
	srv := tgtest.NewServer()
	defer srv.Close()
	c, _ := tg.NewClient(srv.Token(), tg.WithBaseURL(srv.URL()))
	defer c.Close()
	alice := srv.NewUser("alice")
	alice.Block()

	_, err := c.SendMessage(context.Background(), &tg.SendMessageParams{ChatID: tg.ID(alice.ChatID()), Text: "news"})
	switch {
	case errors.Is(err, tg.ErrBotBlocked):
		fmt.Println("blocked: stop sending to this chat")
	case err != nil:
		log.Fatal(err)
	}
	// Output: blocked: stop sending to this chat
}

// An inline query answered page by page: InlinePage cuts the results at
// the query's offset and returns the next_offset that asks for the rest.
func ExampleClient_AnswerInline() {
	srv := tgtest.NewServer()
	defer srv.Close()
	c, _ := tg.NewClient(srv.Token(), tg.WithBaseURL(srv.URL()))
	defer c.Close()
	ctx := context.Background()
	queryID, _ := srv.NewUser("alice").InlineQuery("shoes")

	all := make([]tg.InlineQueryResult, 0, 30)
	for i := range 30 {
		a := tg.InlineArticle(strconv.Itoa(i), "Shoe #"+strconv.Itoa(i), "I want shoe #"+strconv.Itoa(i))
		a.Description = "in stock"
		all = append(all, a)
	}
	page, next := tg.InlinePage(all, "", 20) // the query's Offset: "" at first
	err := c.AnswerInline(ctx, queryID, page, func(p *tg.AnswerInlineQueryParams) {
		p.NextOffset = next
		p.IsPersonal = true
	})
	if err != nil {
		log.Fatal(err)
	}
	ans, _ := srv.WaitInlineAnswer(ctx, queryID)
	fmt.Println(len(page), "results, next offset", ans.NextOffset)
	// Output: 20 results, next offset 20
}

// A pre-checkout query is accepted when the goods are there and declined
// with a reason the user sees otherwise.
func ExampleClient_AcceptPreCheckout() {
	srv := tgtest.NewServer()
	defer srv.Close()
	c, _ := tg.NewClient(srv.Token(), tg.WithBaseURL(srv.URL()))
	defer c.Close()
	ctx := context.Background()
	alice := srv.NewUser("alice")
	inStock := map[string]bool{"sku-1": true}

	for _, sku := range []string{"sku-1", "sku-2"} {
		queryID, _ := alice.PreCheckout("EUR", 1500, sku)
		// In a bot: q := c.Update.PreCheckoutQuery; q.ID, q.InvoicePayload.
		var err error
		if inStock[sku] {
			err = c.AcceptPreCheckout(ctx, queryID)
		} else {
			err = c.DeclinePreCheckout(ctx, queryID, "Sorry, "+sku+" just sold out")
		}
		if err != nil {
			log.Fatal(err)
		}
		ans, _ := srv.WaitPreCheckoutAnswer(ctx, queryID)
		fmt.Printf("%s ok=%v %q\n", sku, ans.OK, ans.ErrorMessage)
	}
	// Output:
	// sku-1 ok=true ""
	// sku-2 ok=false "Sorry, sku-2 just sold out"
}

// With a local Bot API server (--local), getFile answers an absolute
// path; in local mode the Client reads it from disk.
func ExampleWithLocalServer() {
	srv := tgtest.NewServer(tgtest.WithLocalMode()) // behaves like telegram-bot-api --local
	defer srv.Close()
	c, err := tg.NewClient(srv.Token(), tg.WithBaseURL(srv.URL()), tg.WithLocalServer())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	msg, _ := srv.NewUser("alice").SendDocument("notes.txt", []byte("local bytes"))

	f, err := c.GetFile(ctx, &tg.GetFileParams{FileID: msg.Document.FileID})
	if err != nil {
		log.Fatal(err)
	}
	var b strings.Builder
	n, err := c.Download(ctx, f.FilePath, &b) // f.FilePath is like /var/lib/telegram-bot-api/<token>/documents/file_0.txt
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.IsAbs(f.FilePath), n, b.String())
	// Output: true 11 local bytes
}
