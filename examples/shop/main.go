// Command shop is a small shop bot, the day-one features in one place: a
// reply-keyboard menu, a catalog paged with typed callback data, a cart
// kept in a session, a checkout conversation (name, address,
// confirmation; /cancel at any step), photo albums for returns (one
// handler call per album), and HTML-formatted text with the users' words
// escaped.
//
//	TELEGRAM_TOKEN=123:abc go run ./examples/shop
//
// TELEGRAM_API_URL sets the Bot API's base URL (default the real one).
// SIGINT or SIGTERM stops it gracefully and it exits 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/examples/internal/exlog"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/router/format"
	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/tg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

// product is one article of the catalog; prices are in cents.
type product struct {
	Name  string
	Price int
}

var catalog = []product{
	{"Gopher mug", 1250}, {"Gopher plush", 2400}, {"Sticker pack", 300},
	{"Hoodie", 4900}, {"Cap", 1800}, {"Notebook", 900}, {"Socks", 700},
}

// perPage is how many products a catalog page shows.
const perPage = 3

func pages() int { return (len(catalog) + perPage - 1) / perPage }

// The menu's buttons send these texts.
const (
	btnCatalog  = "🛍 Catalog"
	btnCart     = "🛒 Cart"
	btnCheckout = "📦 Checkout"
	btnReturns  = "↩️ Returns"
)

// Typed callback data: the structs are packed into the buttons (the
// 64-byte limit is checked when a button is made) and unpacked for the
// handlers.
type (
	pageData struct{ Page int }
	addData  struct{ Item int }
)

var (
	pageCB = router.NewCallback[pageData]("page")
	addCB  = router.NewCallback[addData]("add")
)

// cart is a user's cart (item indexes into catalog), kept in a session.
type cart struct{ Items []int }

func (c *cart) total() int {
	sum := 0
	for _, i := range c.Items {
		sum += catalog[i].Price
	}
	return sum
}

// checkout is what the checkout conversation collects.
type checkout struct{ Name, Address string }

func money(cents int) string { return fmt.Sprintf("€%d.%02d", cents/100, cents%100) }

// menu is the reply keyboard shown under the input field.
func menu() *tg.ReplyKeyboardMarkup {
	kb := router.ReplyKeyboard(router.Columns(2,
		router.TextButton(btnCatalog), router.TextButton(btnCart),
		router.TextButton(btnCheckout), router.TextButton(btnReturns))...)
	kb.ResizeKeyboard = true
	return kb
}

// page returns the text and keyboard of catalog page n (from 0).
func page(n int) (string, *tg.InlineKeyboardMarkup) {
	var b strings.Builder
	fmt.Fprintf(&b, "<b>Catalog</b> (page %d of %d)\n", n+1, pages())
	var buy []tg.InlineKeyboardButton
	for i := n * perPage; i < min((n+1)*perPage, len(catalog)); i++ {
		fmt.Fprintf(&b, "\n%s — %s", format.EscapeHTML(catalog[i].Name), money(catalog[i].Price))
		buy = append(buy, addCB.Button("Add "+catalog[i].Name, addData{Item: i}))
	}
	var nav []tg.InlineKeyboardButton
	if n > 0 {
		nav = append(nav, pageCB.Button("« Prev", pageData{Page: n - 1}))
	}
	if n+1 < pages() {
		nav = append(nav, pageCB.Button("Next »", pageData{Page: n + 1}))
	}
	rows := router.Columns(1, buy...)
	if len(nav) > 0 {
		rows = append(rows, nav)
	}
	return b.String(), router.InlineKeyboard(rows...)
}

// run serves until ctx ends; it returns nil after a clean stop.
func run(ctx context.Context, getenv func(string) string) error {
	// life logs three lines: starting, connected (as whom), stopped.
	life := exlog.Starting("shop")
	store := session.NewMemory(session.WithMaxEntries(100_000)) // bounded: LRU beyond
	bot, err := tidygram.NewFromEnv(getenv, life.Option(), tidygram.WithJanitor(store, time.Minute))
	if err != nil {
		return err
	}
	carts := session.New[cart](store, session.WithPrefix("cart:"), session.WithTTL(7*24*time.Hour))
	order := router.NewConversation[checkout](store, session.WithPrefix("checkout:"), session.WithTTL(30*time.Minute)).
		Steps("name", "address", "confirm")
	var orders atomic.Int64 // order numbers of this run

	bot.UseOuter(order.Middleware())              // the checkout step, before routing
	bot.Use(router.DefaultParseMode(format.HTML)) // every Send/Reply/Edit is HTML
	bot.Use(tidygram.Sessions(carts))             // the cart, around every handler

	bot.OnCommand("start", func(c *tidygram.Context) error {
		return c.Reply(fmt.Sprintf("Welcome to the <b>Gopher Shop</b>, %s! Pick from the menu below.",
			format.EscapeHTML(c.Sender().FirstName)), router.WithMarkup(menu()))
	})

	// The catalog: page 1 on the menu button, other pages by editing the
	// message when a navigation button is pressed.
	showCatalog := func(c *tidygram.Context) error {
		text, kb := page(0)
		return c.Send(text, router.WithMarkup(kb))
	}
	bot.Handle("catalog", router.Or(router.Command("catalog"), router.TextEquals(btnCatalog)), showCatalog)
	bot.Group(nil, func(g *router.Router) {
		router.OnCallbackData(g, pageCB, func(c *tidygram.Context, p pageData) error {
			if p.Page < 0 || p.Page >= pages() {
				return c.Answer("That page is gone.")
			}
			text, kb := page(p.Page)
			if err := c.Edit(text, router.WithMarkup(kb)); err != nil && !errors.Is(err, tg.ErrNotModified) {
				return err
			}
			return c.Answer("")
		})
		router.OnCallbackData(g, addCB, func(c *tidygram.Context, a addData) error {
			if a.Item < 0 || a.Item >= len(catalog) {
				return c.Answer("That item is gone.")
			}
			ct, _ := session.From[cart](c)
			ct.Items = append(ct.Items, a.Item)
			return c.Answer(fmt.Sprintf("Added %s (%d in the cart)", catalog[a.Item].Name, len(ct.Items)))
		})
	})

	bot.Handle("cart", router.Or(router.Command("cart"), router.TextEquals(btnCart)), func(c *tidygram.Context) error {
		ct, _ := session.From[cart](c)
		if len(ct.Items) == 0 {
			return c.Send("Your cart is empty. Open the " + btnCatalog + ".")
		}
		var b strings.Builder
		b.WriteString("<b>Your cart</b>\n")
		for _, i := range ct.Items {
			fmt.Fprintf(&b, "\n%s — %s", format.EscapeHTML(catalog[i].Name), money(catalog[i].Price))
		}
		fmt.Fprintf(&b, "\n\nTotal: <b>%s</b>", money(ct.total()))
		return c.Send(b.String())
	})

	// Checkout: a conversation whose steps route like commands.
	bot.Handle("checkout", router.Or(router.Command("checkout"), router.TextEquals(btnCheckout)), func(c *tidygram.Context) error {
		if ct, _ := session.From[cart](c); len(ct.Items) == 0 {
			return c.Send("Your cart is empty. Open the " + btnCatalog + " first.")
		}
		if err := order.State(c).Enter("name"); err != nil {
			return err
		}
		return c.Send("What name should we put on the parcel? (/cancel to stop)")
	})
	bot.When(order.Active()).OnCommand("cancel", func(c *tidygram.Context) error {
		order.State(c).End()
		return c.Send("Checkout cancelled. Your cart is kept.")
	})
	bot.When(order.In("name")).OnText(func(c *tidygram.Context) error {
		st := order.State(c)
		st.Data().Name = c.Text()
		if err := st.Enter("address"); err != nil {
			return err
		}
		return c.Send("Where should we send it?")
	})
	bot.When(order.In("address")).OnText(func(c *tidygram.Context) error {
		st := order.State(c)
		st.Data().Address = c.Text()
		if err := st.Enter("confirm"); err != nil {
			return err
		}
		ct, _ := session.From[cart](c)
		return c.Send(fmt.Sprintf("Send %d items (<b>%s</b>) to <b>%s</b>, %s? (yes/no)",
			len(ct.Items), money(ct.total()), format.EscapeHTML(st.Data().Name), format.EscapeHTML(st.Data().Address)))
	})
	bot.When(order.In("confirm")).OnText(func(c *tidygram.Context) error {
		st := order.State(c)
		switch strings.ToLower(strings.TrimSpace(c.Text())) {
		case "yes":
			ct, _ := session.From[cart](c)
			ct.Items = nil
			st.End()
			return c.Send(fmt.Sprintf("Thank you! Order <b>#%d</b> is on its way.", orders.Add(1)))
		case "no":
			st.End()
			return c.Send("Checkout cancelled. Your cart is kept.")
		}
		return c.Send("Please answer yes or no.")
	})

	// Returns: photos of the item, one by one or as an album — an album
	// reaches the handler once, whole.
	bot.Handle("returns", router.Or(router.Command("returns"), router.TextEquals(btnReturns)), func(c *tidygram.Context) error {
		return c.Send("Send photos of the item, up to 10 at once, and we will open a return.")
	})
	bot.OnAlbum(func(c *tidygram.Context) error {
		return c.Reply(fmt.Sprintf("Return request received with <b>%d</b> photos.", len(c.Album())))
	})
	bot.Handle("photo", router.Photo(), func(c *tidygram.Context) error {
		return c.Reply("Return request received with <b>1</b> photo.")
	})

	bot.OnText(func(c *tidygram.Context) error {
		return c.Send("I did not get that: "+format.EscapeHTML(c.Text())+". Use the menu below.", router.WithMarkup(menu()))
	})
	return life.Run(ctx, bot)
}
