package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/router/format"
	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/tg"
)

// printingAPI is a Bot API that prints each call (method and JSON
// parameters, keys sorted) and answers with a message. close stops it.
func printingAPI() (client *tg.Client, close func()) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var params map[string]any
		_ = json.Unmarshal(body, &params)
		var canon strings.Builder
		enc := json.NewEncoder(&canon)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(params)
		fmt.Printf("%s %s", r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:], canon.String())
		io.WriteString(w, `{"ok":true,"result":{"message_id":2,"date":1,"chat":{"id":7,"type":"private"}}}`)
	}))
	client, err := tg.NewClient("1:example", tg.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}
	return client, func() { client.Close(); srv.Close() }
}

// handle routes u through r (frozen) and runs the handler, as the runtime
// does, with client for the Bot API calls.
func handle(r *router.Router, client *tg.Client, u *tg.Update) {
	name, h, ok := r.Match(u)
	if !ok {
		fmt.Println("no route")
		return
	}
	c := router.NewContext(context.Background(), u, client, name, nil)
	if err := h(c); err != nil {
		fmt.Println("error:", err)
	}
}

func textFrom(userID int64, text string) *tg.Update {
	return &tg.Update{UpdateID: 1, Message: &tg.Message{MessageID: 1, Chat: tg.Chat{ID: userID, Type: "private"},
		From: &tg.User{ID: userID, FirstName: "Ann"}, Text: text}}
}

type userKey struct{}

// Outer middleware sees every update before routing — here it loads the
// user's role — and a ContextFilter (When) routes by what it attached.
func ExampleRouter_UseOuter() {
	admins := map[int64]bool{1: true}
	r := router.New()
	r.UseOuter(func(next router.Handler) router.Handler {
		return func(c *router.Context) error {
			fmt.Printf("update %d from %d\n", c.Update.UpdateID, c.Sender().ID) // unmatched ones too
			return next(c.WithValue(userKey{}, admins[c.Sender().ID]))
		}
	})
	isAdmin := func(c *router.Context) bool { return c.Value(userKey{}) == true }
	r.When(isAdmin).OnCommand("ban", func(c *router.Context) error {
		fmt.Println("banned by an admin")
		return nil
	})
	r.OnCommand("ban", func(c *router.Context) error {
		fmt.Println("not allowed")
		return nil
	})
	r.Freeze()

	handle(r, nil, textFrom(1, "/ban"))
	handle(r, nil, textFrom(2, "/ban"))
	handle(r, nil, textFrom(2, "hello"))
	// Output:
	// update 1 from 1
	// banned by an admin
	// update 1 from 2
	// not allowed
	// update 1 from 2
}

// Filters for what a message carries.
func ExampleContentType() {
	r := router.New()
	r.Handle("photo", router.Photo(), func(*router.Context) error { return nil })
	r.Handle("bug report", router.And(router.Document(), router.CaptionPrefix("#bug")), func(*router.Context) error { return nil })
	r.Handle("links", router.Entity("url", "text_link"), func(*router.Context) error { return nil })
	r.Handle("forward", router.Forwarded(), func(*router.Context) error { return nil })
	r.Handle("six", router.MessageWhere(func(m *tg.Message) bool { return m.Dice != nil && m.Dice.Value == 6 }), func(*router.Context) error { return nil })
	r.Freeze()
	for _, m := range []*tg.Message{
		{Photo: []tg.PhotoSize{{FileID: "p"}}},
		{Document: &tg.Document{FileName: "log.txt"}, Caption: "#bug crash on start"},
		{Text: "see https://go.dev", Entities: []tg.MessageEntity{{Type: "url", Offset: 4, Length: 14}}},
		{Text: "fwd", ForwardOrigin: &tg.MessageOriginUser{}},
		{Dice: &tg.Dice{Emoji: "🎲", Value: 6}},
	} {
		m.Chat = tg.Chat{ID: 7, Type: "private"}
		name, _, _ := r.Match(&tg.Update{Message: m})
		fmt.Printf("%s: %s\n", router.ContentType(m), name)
	}
	// Output:
	// photo: photo
	// document: bug report
	// text: links
	// text: forward
	// dice: six
}

// Chat-member transitions, from chat_member (others) and my_chat_member
// (the bot itself) updates.
func ExampleJoined() {
	r := router.New()
	r.Handle("bot added", router.And(router.Kind("my_chat_member"), router.Joined()), func(*router.Context) error { return nil })
	r.Handle("welcome", router.Joined(), func(*router.Context) error { return nil })
	r.Handle("promoted", router.Promoted(), func(*router.Context) error { return nil })
	r.Handle("bye", router.Left(), func(*router.Context) error { return nil })
	r.Freeze()
	change := func(my bool, old, new tg.ChatMember) *tg.Update {
		cm := &tg.ChatMemberUpdated{Chat: tg.Chat{ID: -100, Type: "supergroup"}, OldChatMember: old, NewChatMember: new}
		if my {
			return &tg.Update{MyChatMember: cm}
		}
		return &tg.Update{ChatMember: cm}
	}
	for _, u := range []*tg.Update{
		change(true, &tg.ChatMemberLeft{}, &tg.ChatMemberMember{}),
		change(false, &tg.ChatMemberLeft{}, &tg.ChatMemberMember{}),
		change(false, &tg.ChatMemberMember{}, &tg.ChatMemberAdministrator{}),
		change(false, &tg.ChatMemberMember{}, &tg.ChatMemberBanned{}),
	} {
		name, _, _ := r.Match(u)
		fmt.Println(name)
	}
	// Output:
	// bot added
	// welcome
	// promoted
	// bye
}

// A deep link carries a payload to /start.
func ExampleDeepLink() {
	link, err := router.DeepLink("ShopBot", "ref_ann")
	fmt.Println(link, err)
	_, err = router.DeepLink("ShopBot", "not allowed!")
	fmt.Println(err)

	r := router.New()
	r.On(router.StartPayload(func(p string) bool { return strings.HasPrefix(p, "ref_") }), func(c *router.Context) error {
		fmt.Println("referred by", strings.TrimPrefix(c.StartPayload(), "ref_"))
		return nil
	})
	r.OnCommand("start", func(*router.Context) error { fmt.Println("plain start"); return nil })
	r.Freeze()
	handle(r, nil, textFrom(5, "/start ref_ann"))
	handle(r, nil, textFrom(5, "/Start"))
	// Output:
	// https://t.me/ShopBot?start=ref_ann <nil>
	// router: invalid deep-link payload: ' ' at 3 (A-Z, a-z, 0-9, _ and - only)
	// referred by ann
	// plain start
}

// Keyboards of either kind, laid out in a grid, for any method's
// reply_markup — here sendMessage through Reply.
func ExampleReplyKeyboard() {
	client, closeAPI := printingAPI()
	defer closeAPI()
	r := router.New()
	r.OnCommand("size", func(c *router.Context) error {
		kb := router.ReplyKeyboard(router.Grid([]tg.KeyboardButton{
			router.TextButton("S"), router.TextButton("M"), router.TextButton("L"), router.ContactButton("Call me"),
		}, 3, 1)...)
		kb.OneTimeKeyboard = true
		return c.Reply("Which size?", router.WithMarkup(kb))
	})
	r.OnText(func(c *router.Context) error {
		return c.Send("Noted.", router.WithMarkup(router.RemoveKeyboard()))
	})
	r.Freeze()
	handle(r, client, textFrom(7, "/size"))
	handle(r, client, textFrom(7, "M"))
	// Output:
	// sendMessage {"chat_id":7,"reply_markup":{"keyboard":[[{"text":"S"},{"text":"M"},{"text":"L"}],[{"request_contact":true,"text":"Call me"}]],"one_time_keyboard":true,"resize_keyboard":true},"reply_parameters":{"message_id":1},"text":"Which size?"}
	// sendMessage {"chat_id":7,"reply_markup":{"remove_keyboard":true},"text":"Noted."}
}

func ExampleGrid() {
	var products []tg.InlineKeyboardButton
	for _, p := range []string{"tea", "coffee", "juice", "water", "milk"} {
		products = append(products, router.CallbackButton(p, "buy:"+p))
	}
	for _, row := range router.Grid(products, 2, 3) {
		var names []string
		for _, b := range row {
			names = append(names, b.Text)
		}
		fmt.Println(names)
	}
	fmt.Println(len(router.Columns(2, products...)), "rows of two")
	// Output:
	// [tea coffee]
	// [juice water milk]
	// 3 rows of two
}

type pageData struct {
	List string
	Page int
}

// Typed callback data: the struct packs into the button, the route
// unpacks it for the handler. The 64-byte limit is checked when packing.
func ExampleOnCallbackData() {
	pages := router.NewCallback[pageData]("pg")
	next := pages.Button("Next »", pageData{List: "orders", Page: 2})
	fmt.Println(next.CallbackData)

	_, err := pages.Pack(pageData{List: strings.Repeat("x", 64)})
	fmt.Println(err != nil)

	r := router.New()
	router.OnCallbackData(r, pages, func(c *router.Context, p pageData) error {
		fmt.Printf("show %s, page %d\n", p.List, p.Page)
		return nil
	})
	r.Freeze()
	handle(r, nil, &tg.Update{CallbackQuery: &tg.CallbackQuery{ID: "q", Data: next.CallbackData}})
	// Output:
	// pg:orders:2
	// true
	// show orders, page 2
}

type orderForm struct {
	Size    string
	Address string
}

// A conversation: its middleware loads the step before routing, When
// sends each step's input to its route, /cancel works at any step.
func ExampleConversation() {
	order := router.NewConversation[orderForm](session.NewMemory(), session.WithTTL(10*time.Minute)).Steps("size", "address")
	r := router.New()
	r.UseOuter(order.Middleware())
	r.When(order.Active()).OnCommand("cancel", func(c *router.Context) error {
		order.State(c).End()
		fmt.Println("cancelled")
		return nil
	})
	r.When(order.In("size")).OnText(func(c *router.Context) error {
		st := order.State(c)
		st.Data().Size = c.Text()
		fmt.Println("address?")
		return st.Enter("address")
	})
	r.When(router.InStep("address")).OnText(func(c *router.Context) error {
		st := order.State(c)
		fmt.Printf("ordered %s to %s\n", st.Data().Size, c.Text())
		st.End()
		return nil
	})
	r.OnCommand("order", func(c *router.Context) error {
		fmt.Println("size?")
		return order.State(c).Enter("size")
	})
	r.OnText(func(c *router.Context) error { fmt.Println("send /order"); return nil })
	r.Freeze()
	for _, s := range []string{"hi", "/order", "L", "Main St 1", "/order", "/cancel", "M"} {
		handle(r, nil, textFrom(3, s))
	}
	// Output:
	// send /order
	// size?
	// address?
	// ordered L to Main St 1
	// size?
	// cancelled
	// send /order
}

// A reply to a business message goes out through its business connection,
// on behalf of the business account.
func ExampleContext_Reply_business() {
	client, closeAPI := printingAPI()
	defer closeAPI()
	r := router.New()
	r.OnText(func(c *router.Context) error { return c.Reply("We open at 9.") })
	r.Freeze()
	handle(r, client, &tg.Update{BusinessMessage: &tg.Message{MessageID: 4, Chat: tg.Chat{ID: 55, Type: "private"},
		Text: "When do you open?", BusinessConnectionID: "bc1"}})
	// Output:
	// sendMessage {"business_connection_id":"bc1","chat_id":55,"reply_parameters":{"message_id":4},"text":"We open at 9."}
}

// A bot-wide parse mode for the Context helpers; user text is escaped, or
// sent with entities instead.
func ExampleDefaultParseMode() {
	client, closeAPI := printingAPI()
	defer closeAPI()
	r := router.New()
	r.Use(router.DefaultParseMode(format.HTML))
	r.OnCommand("hi", func(c *router.Context) error {
		return c.Reply("<b>Hello</b>, " + format.EscapeHTML("<Ann>"))
	})
	r.OnText(func(c *router.Context) error {
		var b format.Builder
		b.Plain("You said ").Italic(c.Text())
		return c.Send(b.String(), router.WithEntities(b.Entities()))
	})
	r.Freeze()
	handle(r, client, textFrom(7, "/hi"))
	handle(r, client, textFrom(7, "<3"))
	// Output:
	// sendMessage {"chat_id":7,"parse_mode":"HTML","reply_parameters":{"message_id":1},"text":"<b>Hello</b>, &lt;Ann&gt;"}
	// sendMessage {"chat_id":7,"entities":[{"length":2,"offset":9,"type":"italic"}],"text":"You said <3"}
}

// A throttle drops a user's updates over the limit before routing; the
// first drop of a streak gets an answer.
func ExampleThrottle() {
	now := time.Unix(1_700_000_000, 0)
	th := router.NewThrottle(router.ThrottleConfig{
		Limit: 2, Window: time.Second,
		OnLimit: func(c *router.Context) error { fmt.Println("slow down"); return nil },
		Now:     func() time.Time { return now },
	})
	r := router.New()
	r.UseOuter(th.Middleware())
	r.OnText(func(c *router.Context) error { fmt.Println("handled", c.Text()); return nil })
	r.Freeze()
	for _, s := range []string{"1", "2", "3", "4"} {
		handle(r, nil, textFrom(9, s))
	}
	now = now.Add(time.Second)
	handle(r, nil, textFrom(9, "5"))
	// Output:
	// handled 1
	// handled 2
	// slow down
	// handled 5
}
