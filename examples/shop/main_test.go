package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"testing"
	"time"

	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

// shop starts the emulator and the shop bot on it, both stopped with the
// test.
func shop(t *testing.T) *tgtest.Server {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	bottest.Start(t, func(ctx context.Context) error { return run(ctx, bottest.Env(srv, nil)) })
	return srv
}

type line struct{ say, want string }

func talk(t *testing.T, u *tgtest.SimUser, lines []line) {
	t.Helper()
	for _, l := range lines {
		bottest.Expect(t, u, l.say, l.want)
	}
}

const (
	page1 = "<b>Catalog</b> (page 1 of 3)\n\nGopher mug — €12.50\nGopher plush — €24.00\nSticker pack — €3.00"
	page2 = "<b>Catalog</b> (page 2 of 3)\n\nHoodie — €49.00\nCap — €18.00\nNotebook — €9.00"
	page3 = "<b>Catalog</b> (page 3 of 3)\n\nSocks — €7.00"
)

func TestMenuAndFormatting(t *testing.T) {
	srv := shop(t)
	tests := []struct {
		name, user string
		lines      []line
	}{
		{"greeting", "Alice", []line{{"/start", "Welcome to the <b>Gopher Shop</b>, Alice! Pick from the menu below."}}},
		{"a name that looks like HTML is escaped", "<Bob & Co>", []line{{"/start", "Welcome to the <b>Gopher Shop</b>, &lt;Bob &amp; Co&gt;! Pick from the menu below."}}},
		{"unknown text, escaped", "Carol", []line{{"1 < 2", "I did not get that: 1 &lt; 2. Use the menu below."}}},
		{"returns", "Dave", []line{{btnReturns, "Send photos of the item, up to 10 at once, and we will open a return."}}},
		{"empty cart", "Erin", []line{{btnCart, "Your cart is empty. Open the 🛍 Catalog."}, {btnCheckout, "Your cart is empty. Open the 🛍 Catalog first."}}},
	}
	t.Run("users", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				talk(t, srv.NewUser(tt.user), tt.lines)
			})
		}
	})
}

// press presses the button labelled text on the current version of the
// bot's message msg, waits for the callback answer and returns it with
// the message as it is then.
func press(t *testing.T, srv *tgtest.Server, u *tgtest.SimUser, msg tgtest.Message, text string) (string, tgtest.Message) {
	t.Helper()
	cur := current(srv, u, msg.MessageID)
	data := ""
	for _, b := range cur.Buttons() {
		if b.Text == text {
			data = b.CallbackData
		}
	}
	if data == "" {
		t.Fatalf("no button %q on %q", text, cur.Text)
	}
	id, err := u.Press(cur, data)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := u.WaitCallbackAnswer(ctx, id)
	if err != nil {
		t.Fatalf("no answer to %q: %v", text, err)
	}
	return ans.Text, current(srv, u, msg.MessageID)
}

// current returns the message's current version.
func current(srv *tgtest.Server, u *tgtest.SimUser, id int64) tgtest.Message {
	for _, m := range srv.Messages(u.ChatID()) {
		if m.MessageID == id {
			return m
		}
	}
	return tgtest.Message{}
}

func buttonTexts(m tgtest.Message) []string {
	var out []string
	for _, b := range m.Buttons() {
		out = append(out, b.Text)
	}
	return out
}

// TestCatalogPages: the navigation buttons carry typed callback data and
// edit the message to the page they name.
func TestCatalogPages(t *testing.T) {
	srv := shop(t)
	u := srv.NewUser("Alice")
	msg := bottest.Expect(t, u, btnCatalog, page1)
	if got := buttonTexts(msg); len(got) != 4 || got[3] != "Next »" {
		t.Fatalf("page 1 buttons %q", got)
	}
	tests := []struct {
		press, text string
		buttons     []string
	}{
		{"Next »", page2, []string{"Add Hoodie", "Add Cap", "Add Notebook", "« Prev", "Next »"}},
		{"Next »", page3, []string{"Add Socks", "« Prev"}},
		{"« Prev", page2, []string{"Add Hoodie", "Add Cap", "Add Notebook", "« Prev", "Next »"}},
		{"« Prev", page1, []string{"Add Gopher mug", "Add Gopher plush", "Add Sticker pack", "Next »"}},
	}
	for _, tt := range tests {
		ans, now := press(t, srv, u, msg, tt.press)
		if ans != "" || now.Text != tt.text || !equal(buttonTexts(now), tt.buttons) {
			t.Fatalf("after %q: answer %q, message %q with %q; want %q with %q", tt.press, ans, now.Text, buttonTexts(now), tt.text, tt.buttons)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCartAndCheckout: items added with typed buttons land in the cart
// session; the checkout conversation routes each step, validates the
// confirmation and empties the cart; /cancel keeps it.
func TestCartAndCheckout(t *testing.T) {
	srv := shop(t)
	t.Run("users", func(t *testing.T) {
		t.Run("order placed", func(t *testing.T) {
			t.Parallel()
			u := srv.NewUser("Ann")
			msg := bottest.Expect(t, u, btnCatalog, page1)
			for i, want := range []string{"Added Gopher mug (1 in the cart)", "Added Sticker pack (2 in the cart)"} {
				if ans, _ := press(t, srv, u, msg, []string{"Add Gopher mug", "Add Sticker pack"}[i]); ans != want {
					t.Fatalf("answer %q, want %q", ans, want)
				}
			}
			talk(t, u, []line{
				{btnCart, "<b>Your cart</b>\n\nGopher mug — €12.50\nSticker pack — €3.00\n\nTotal: <b>€15.50</b>"},
				{btnCheckout, "What name should we put on the parcel? (/cancel to stop)"},
				{"Ann <3", "Where should we send it?"},
				{"Main St 1", "Send 2 items (<b>€15.50</b>) to <b>Ann &lt;3</b>, Main St 1? (yes/no)"},
				{"maybe", "Please answer yes or no."},
				{"YES", "Thank you! Order <b>#1</b> is on its way."},
				{btnCart, "Your cart is empty. Open the 🛍 Catalog."},
				{"yes", "I did not get that: yes. Use the menu below."}, // the conversation is over
			})
		})
		t.Run("cancelled", func(t *testing.T) {
			t.Parallel()
			u := srv.NewUser("Ben")
			msg := bottest.Expect(t, u, btnCatalog, page1)
			if ans, _ := press(t, srv, u, msg, "Add Gopher plush"); ans != "Added Gopher plush (1 in the cart)" {
				t.Fatalf("answer %q", ans)
			}
			talk(t, u, []line{
				{btnCheckout, "What name should we put on the parcel? (/cancel to stop)"},
				{"Ben", "Where should we send it?"},
				{"/cancel", "Checkout cancelled. Your cart is kept."},
				{"Elm St 2", "I did not get that: Elm St 2. Use the menu below."},
				{btnCart, "<b>Your cart</b>\n\nGopher plush — €24.00\n\nTotal: <b>€24.00</b>"},
			})
		})
	})
}

func photo(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReturnsAlbum: an album of photos reaches the album handler once,
// whole; a single photo goes to the photo route.
func TestReturnsAlbum(t *testing.T) {
	srv := shop(t)
	tests := []struct {
		name  string
		parts int
		want  string
	}{
		{"album of three", 3, "Return request received with <b>3</b> photos."},
		{"album of ten", 10, "Return request received with <b>10</b> photos."},
		{"one photo", 1, "Return request received with <b>1</b> photo."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := srv.NewUser("Returner")
			var err error
			if tt.parts == 1 {
				_, err = u.SendPhoto(photo(t), "broken")
			} else {
				items := make([]tgtest.Media, tt.parts)
				for i := range items {
					items[i] = tgtest.Media{Photo: photo(t)}
				}
				_, err = u.SendAlbum(items...)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := bottest.Reply(t, u); got.Text != tt.want {
				t.Fatalf("reply %q, want %q", got.Text, tt.want)
			}
			// One reply per album: nothing more comes.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if extra, err := u.WaitReply(ctx); err == nil {
				t.Fatalf("a second reply %q", extra.Text)
			}
		})
	}
}
