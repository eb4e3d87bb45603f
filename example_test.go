package tidygram_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/tgtest"
)

// A bot with a command and an inline keyboard, run against the emulator
// with a simulated user.
func Example() {
	srv := tgtest.NewServer() // a Bot API emulator on 127.0.0.1
	defer srv.Close()

	bot, err := tidygram.New(srv.Token(), tidygram.WithBaseURL(srv.URL()))
	if err != nil {
		log.Fatal(err)
	}
	bot.OnCommand("start", func(c *tidygram.Context) error {
		return c.Reply("Hello, "+c.Sender().FirstName+"! Tea or coffee?",
			router.WithMarkup(router.InlineKeyboard(router.Row(
				router.CallbackButton("Tea", "drink:tea"),
				router.CallbackButton("Coffee", "drink:coffee"),
			))))
	})
	bot.OnCallbackPrefix("drink:", func(c *tidygram.Context) error {
		if err := c.Answer(""); err != nil { // stops the button's spinner
			return err
		}
		return c.Send("Enjoy your " + strings.TrimPrefix(c.CallbackData(), "drink:") + ".")
	})

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bot.Run(ctx) }() // Run returns after everything it started has ended

	alice := srv.NewUser("Alice")
	if _, err := alice.Command("start", ""); err != nil {
		log.Fatal(err)
	}
	wait, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := alice.WaitReply(wait)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Text)
	if _, err := alice.Press(reply, "drink:tea"); err != nil {
		log.Fatal(err)
	}
	if reply, err = alice.WaitReply(wait); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Text)

	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// Hello, Alice! Tea or coffee?
	// Enjoy your tea.
}

// Webhooks behind your own http.Server: Run runs the handlers, your server
// feeds them through WebhookHandler, which answers after the handler ended.
func ExampleBot_WebhookHandler() {
	srv := tgtest.NewServer()
	defer srv.Close()
	bot, err := tidygram.New(srv.Token(), tidygram.WithBaseURL(srv.URL()),
		tidygram.WithWebhook(tidygram.WebhookConfig{Secret: "my-secret"}))
	if err != nil {
		log.Fatal(err)
	}
	bot.OnText(func(c *tidygram.Context) error {
		return c.Send("got it")
	})
	hook := httptest.NewServer(bot.WebhookHandler()) // your server, your routes
	defer hook.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bot.Run(ctx) }()
	// Run has started once it knows who it is: wait for that, for at most
	// 10 s.
	for deadline := time.Now().Add(10 * time.Second); bot.Me() == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			log.Fatal("Run did not start within 10 s")
		}
	}

	alice := srv.NewUser("Alice")
	update := fmt.Sprintf(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":%d,"type":"private"},"text":"hi"}}`, alice.ChatID())
	req, _ := http.NewRequest(http.MethodPost, hook.URL, strings.NewReader(update))
	req.Header.Set(tidygram.SecretHeader, "my-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
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
	// 200 OK
	// got it
}
