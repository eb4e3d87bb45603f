package router_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/router/format"
	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// The tests of this file run a bot against the Bot API emulator: the
// updates come over getUpdates, the replies go over the Bot API and are
// checked where the emulator keeps them.

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), bottest.ReplyTimeout)
	t.Cleanup(cancel)
	return ctx
}

type role struct{}

// Outer middleware sees every update, matched or not, before routing;
// When routes by what it attached; typed callback data round-trips through
// a real button press; the route's name reaches the error handler.
func TestEmulatorOuterWhenAndCallbackData(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	var (
		mu     sync.Mutex
		seen   []string // by the outer middleware: update kind and text
		errsAt []string // routes named to the error handler
	)
	bot := bottest.New(t, srv, tidygram.WithErrorHandler(func(c *tidygram.Context, err error) {
		mu.Lock()
		errsAt = append(errsAt, c.Route)
		mu.Unlock()
	}))
	type vote struct {
		Poll   string
		Choice int
	}
	votes := router.NewCallback[vote]("v")
	admin := srv.NewUser("Admin")
	bot.Group(nil, func(r *router.Router) {
		r.UseOuter(func(next router.Handler) router.Handler {
			return func(c *router.Context) error {
				mu.Lock()
				seen = append(seen, c.Update.Kind()+":"+c.Text())
				mu.Unlock()
				if u := c.Sender(); u != nil && u.ID == admin.ID() {
					c = c.WithValue(role{}, "admin")
				}
				return next(c)
			}
		})
		isAdmin := func(c *router.Context) bool { return c.Value(role{}) == "admin" }
		r.When(isAdmin).OnCommand("stats", func(c *router.Context) error { return c.Reply("42 users") })
		r.OnCommand("stats", func(c *router.Context) error { return c.Reply("admins only") })
		r.OnCommand("poll", func(c *router.Context) error {
			kb := router.InlineKeyboard(router.Row(votes.Button("Yes", vote{"p1", 1}), votes.Button("No", vote{"p:2", 0})))
			return c.Send("Vote", router.WithMarkup(kb))
		})
		router.OnCallbackData(r, votes, func(c *router.Context, v vote) error {
			if err := c.Answer(fmt.Sprintf("%s=%d", v.Poll, v.Choice)); err != nil {
				return err
			}
			return fmt.Errorf("recorded") // reaches the error handler with the route's name
		})
	})
	bottest.Run(t, bot)

	alice := srv.NewUser("Alice")
	bottest.Expect(t, alice, "/stats", "admins only")
	bottest.Expect(t, admin, "/stats", "42 users")
	bottest.Expect(t, admin, "/STATS", "42 users")
	if _, err := alice.Send("unrouted text"); err != nil {
		t.Fatal(err)
	}
	poll := bottest.Expect(t, alice, "/poll", "Vote")
	for _, b := range poll.Buttons() {
		id, err := alice.Press(poll, b.CallbackData)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := srv.WaitCallbackAnswer(waitCtx(t), id)
		if want := map[string]string{"v:p1:1": "p1=1", "v:p%3A2:0": "p:2=0"}[b.CallbackData]; err != nil || ans.Text != want {
			t.Errorf("button %q: answer %q (%v), want %q", b.CallbackData, ans.Text, err, want)
		}
	}
	bottest.Eventually(t, 5*time.Second, "the outer middleware saw every update", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 7 && len(errsAt) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if seen[3] != "message:unrouted text" {
		t.Errorf("outer middleware saw %q", seen)
	}
	if errsAt[0] != "callback:v" || errsAt[1] != "callback:v" {
		t.Errorf("error handler got routes %q, want callback:v", errsAt)
	}
}

// A conversation routed by step, kept in a session store, through the
// runtime.
func TestEmulatorConversation(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bot := bottest.New(t, srv, tidygram.WithoutFloodControl()) // Ann's replies come faster than 1/s
	type order struct{ Size, Address string }
	store := session.NewMemory()
	conv := router.NewConversation[order](store).Steps("size", "address")
	bot.Group(nil, func(r *router.Router) {
		r.UseOuter(conv.Middleware())
		r.When(conv.Active()).OnCommand("cancel", func(c *router.Context) error {
			conv.State(c).End()
			return c.Reply("Cancelled.", router.WithMarkup(router.RemoveKeyboard()))
		})
		r.When(conv.In("size")).OnText(func(c *router.Context) error {
			st := conv.State(c)
			st.Data().Size = c.Text()
			if err := st.Enter("address"); err != nil {
				return err
			}
			return c.Reply("Address?", router.WithMarkup(router.ForceReply("Street and number")))
		})
		r.When(router.InStep("address")).OnText(func(c *router.Context) error {
			st := conv.State(c)
			d := *st.Data()
			st.End()
			var b format.Builder
			b.Plain("Ordered ").Bold(d.Size).Plain(" 🎉 to ").Italic(c.Text())
			return c.Reply(b.String(), router.WithEntities(b.Entities()), router.WithMarkup(router.RemoveKeyboard()))
		})
		r.OnCommand("order", func(c *router.Context) error {
			if err := conv.State(c).Enter("size"); err != nil {
				return err
			}
			kb := router.ReplyKeyboard(router.Columns(2, router.TextButton("S"), router.TextButton("M"), router.TextButton("L"))...)
			kb.OneTimeKeyboard = true
			return c.Reply("Size?", router.WithMarkup(kb))
		})
		r.OnText(func(c *router.Context) error { return c.Reply("Send /order.") })
	})
	bottest.Run(t, bot)

	ann, bob := srv.NewUser("Ann"), srv.NewUser("Bob")
	bottest.Expect(t, ann, "/order", "Size?")
	bottest.Expect(t, bob, "L", "Send /order.") // Bob is not in Ann's conversation
	bottest.Expect(t, ann, "L", "Address?")
	done := bottest.Expect(t, ann, "Main St 1", "Ordered L 🎉 to Main St 1")
	if len(done.Entities) != 2 || done.Entities[0].Type != "bold" || done.Entities[0].Offset != 8 || done.Entities[1].Type != "italic" ||
		done.Entities[1].Offset != 16 || done.Entities[1].Length != 9 { // "Ordered L 🎉 to ": 🎉 counts 2
		t.Errorf("entities %+v", done.Entities)
	}
	bottest.Expect(t, ann, "/order", "Size?")
	bottest.Expect(t, ann, "/cancel", "Cancelled.")
	bottest.Expect(t, ann, "M", "Send /order.")
	bottest.Eventually(t, 5*time.Second, "nothing stored after the conversations ended", func() bool { return store.Len() == 0 })
}

// A business message is routed by OnText and OnCommand, and the reply goes
// out through the business connection, on the account's behalf.
func TestEmulatorBusiness(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bot := bottest.New(t, srv)
	connected := make(chan string, 1)
	bot.On(router.BusinessConnection(), func(c *tidygram.Context) error {
		connected <- c.Update.BusinessConnection.ID
		return nil
	})
	bot.OnCommand("price", func(c *tidygram.Context) error { return c.Reply("10 EUR") })
	bot.OnText(func(c *tidygram.Context) error { return c.Send("Thanks, " + c.Sender().FirstName) })
	bottest.Run(t, bot)

	owner, customer := srv.NewUser("Shop"), srv.NewUser("Carl")
	biz, err := owner.ConnectBusiness()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-connected:
		if id != biz.ID() {
			t.Fatalf("business_connection %q, want %q", id, biz.ID())
		}
	case <-waitCtx(t).Done():
		t.Fatal("no business_connection update")
	}
	if _, err := biz.Send(customer, "/Price"); err != nil {
		t.Fatal(err)
	}
	if _, err := biz.Send(customer, "hello"); err != nil {
		t.Fatal(err)
	}
	msgs, err := biz.WaitMessages(waitCtx(t), customer, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"10 EUR", "Thanks, Carl"} {
		m := msgs[i]
		if m.Text != want || m.BusinessConnectionID != biz.ID() || m.SenderBusinessBot == nil {
			t.Errorf("message %d: %q via %q (bot %v), want %q on the account's behalf", i, m.Text, m.BusinessConnectionID, m.SenderBusinessBot, want)
		}
	}
	if i := len(msgs); msgs[0].ReplyToMessage == nil {
		t.Errorf("the command's answer (of %d) is not a reply", i)
	}
}

// Chat-member transitions from the emulator's chat_member and
// my_chat_member updates.
func TestEmulatorMemberTransitions(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bot := bottest.New(t, srv, tidygram.WithoutFloodControl(), // 7 messages to one group within a second
		tidygram.WithAllowedUpdates("message", "chat_member", "my_chat_member"),
		tidygram.WithErrorHandler(func(c *tidygram.Context, err error) { t.Errorf("%s: %v", c.Route, err) }))
	bot.OnCommand("ping", func(c *tidygram.Context) error { return c.Reply("pong") })
	name := func(c *tidygram.Context) string {
		switch m := c.Update.ChatMember.NewChatMember.(type) {
		case *tg.ChatMemberMember:
			return m.User.FirstName
		case *tg.ChatMemberAdministrator:
			return m.User.FirstName
		case *tg.ChatMemberRestricted:
			return m.User.FirstName
		case *tg.ChatMemberLeft:
			return m.User.FirstName
		case *tg.ChatMemberBanned:
			return m.User.FirstName
		}
		return "?"
	}
	on := func(f router.Filter, what string) {
		bot.On(router.And(router.Kind("chat_member"), f), func(c *tidygram.Context) error { return c.Send(what + " " + name(c)) })
	}
	on(router.Joined(), "welcome")
	on(router.Promoted(), "promoted")
	on(router.Restricted(), "restricted")
	on(router.Banned(), "banned")
	on(router.Left(), "bye")
	bot.On(router.And(router.Kind("my_chat_member"), router.Promoted()), func(c *tidygram.Context) error { return c.Send("I am an admin now") })
	bottest.Run(t, bot)

	g := srv.NewGroup("team")
	boss, ann, bob := srv.NewUser("Boss"), srv.NewUser("Ann"), srv.NewUser("Bob")
	// Once the bot answered, its getUpdates has set allowed_updates, which
	// filters the updates created afterwards.
	bottest.Expect(t, boss, "/ping", "pong")
	steps := []func() error{
		func() error { return ann.Join(g) },
		func() error { return g.SetStatus(boss, ann, tgtest.StatusAdministrator) },
		func() error { return bob.Join(g) },
		func() error { return g.SetStatus(boss, bob, tgtest.StatusRestricted) },
		func() error { return g.SetStatus(boss, bob, tgtest.StatusKicked) },
		func() error { return ann.Leave(g) },
		func() error { return g.SetBotStatus(boss, tgtest.StatusAdministrator) },
	}
	want := []string{"welcome Ann", "promoted Ann", "welcome Bob", "restricted Bob", "banned Bob", "bye Ann", "I am an admin now"}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		msgs, err := srv.WaitMessages(waitCtx(t), g.ID(), i+1)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := msgs[i].Text; got != want[i] {
			t.Fatalf("step %d: bot said %q, want %q", i, got, want[i])
		}
	}
}

// A user flooding the bot is throttled before routing; others are not.
func TestEmulatorThrottle(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bot := bottest.New(t, srv, tidygram.WithoutFloodControl())
	th := router.NewThrottle(router.ThrottleConfig{Limit: 2, Window: time.Hour,
		Key: func(c *router.Context) (int64, bool) {
			if c.Text() == "sync" { // not throttled: a marker in the chat's order
				return 0, false
			}
			return c.Sender().ID, true
		},
		OnLimit: func(c *router.Context) error { return c.Reply("Slow down.") }})
	bot.Group(nil, func(r *router.Router) {
		r.UseOuter(th.Middleware())
		r.OnText(func(c *router.Context) error { return c.Reply("ok " + c.Text()) })
	})
	bottest.Run(t, bot)
	spam, calm := srv.NewUser("Spam"), srv.NewUser("Calm")
	for i := range 6 {
		if _, err := spam.Send(fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	bottest.Expect(t, calm, "hi", "ok hi")
	if _, err := spam.Send("sync"); err != nil {
		t.Fatal(err)
	}
	// Updates of a chat are handled in order: once "sync" is answered,
	// the six before it were handled (or dropped).
	msgs, err := srv.WaitMessages(waitCtx(t), spam.ChatID(), 4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Text)
	}
	if fmt.Sprint(got) != "[ok 0 ok 1 Slow down. ok sync]" { // one warning for the streak of four drops
		t.Errorf("spammer got %q", got)
	}
}

// A deep link's payload arrives as /start's argument.
func TestEmulatorDeepLink(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bot := bottest.New(t, srv)
	bot.On(router.StartPayload(nil), func(c *tidygram.Context) error { return c.Reply("ref " + c.StartPayload()) })
	bot.OnCommand("start", func(c *tidygram.Context) error { return c.Reply("hello") })
	bottest.Run(t, bot)
	link, err := router.DeepLink(srv.Bot().Username, "ann_42")
	if err != nil {
		t.Fatal(err)
	}
	if link != "https://t.me/"+srv.Bot().Username+"?start=ann_42" {
		t.Errorf("link %q", link)
	}
	u := srv.NewUser("Ann")
	bottest.Expect(t, u, "/start ann_42", "ref ann_42")
	bottest.Expect(t, u, "/start", "hello")
}
