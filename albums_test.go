package tidygram_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/spool/spooltest"
	"github.com/tidygram/tidygram/tgtest"
)

// testAlbumWait is the album wait of these tests: above the poller's
// re-poll while updates are in flight (200 ms), with room for a slow
// machine.
const testAlbumWait = 600 * time.Millisecond

// pngBytes is a tiny image for photo parts.
func pngBytes(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// seen records what handlers were given, in order.
type seen struct {
	mu  sync.Mutex
	got []string
}

func (s *seen) add(format string, args ...any) {
	s.mu.Lock()
	s.got = append(s.got, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// albumBot is a bot that records albums (their message ids) and texts.
func albumBot(t *testing.T, srv *tgtest.Server, s *seen, opts ...tidygram.Option) *tidygram.Bot {
	bot := newBot(t, srv, opts...)
	bot.OnAlbum(func(c *tidygram.Context) error {
		ids := make([]int64, 0, len(c.Album()))
		for _, m := range c.Album() {
			ids = append(ids, m.MessageID)
		}
		s.add("album %d %v", c.Update.Message.MessageID, ids)
		return nil
	})
	bot.OnText(func(c *tidygram.Context) error {
		s.add("text %s", c.Text())
		return nil
	})
	return bot
}

func TestAlbums(t *testing.T) {
	photo := pngBytes(t)
	p := tgtest.Media{Photo: photo}
	doc := func(n string) tgtest.Media { return tgtest.Media{Name: n, Data: []byte(n)} }
	tests := []struct {
		name string
		// send acts as the user; it returns what the handlers must see.
		send func(t *testing.T, u *tgtest.SimUser) []string
	}{
		{"one album of three", func(t *testing.T, u *tgtest.SimUser) []string {
			ms := must(u.SendAlbum(p, p, doc("a")))
			return []string{albumLine(ms)}
		}},
		{"a text after the album comes after it", func(t *testing.T, u *tgtest.SimUser) []string {
			ms := must(u.SendAlbum(p, p))
			must1(u.Send("after"))
			return []string{albumLine(ms), "text after"}
		}},
		{"text, album, text keep their order", func(t *testing.T, u *tgtest.SimUser) []string {
			must1(u.Send("before"))
			ms := must(u.SendAlbum(doc("x"), doc("y"), doc("z")))
			must1(u.Send("after"))
			return []string{"text before", albumLine(ms), "text after"}
		}},
		{"two albums back to back", func(t *testing.T, u *tgtest.SimUser) []string {
			a := must(u.SendAlbum(p, p))
			b := must(u.SendAlbum(doc("1"), doc("2"), doc("3")))
			return []string{albumLine(a), albumLine(b)}
		}},
		{"twelve parts under one id: ten, then two", func(t *testing.T, u *tgtest.SimUser) []string {
			ms := must(u.SendAlbum(doc("0"), doc("1"), doc("2"), doc("3"), doc("4"), doc("5"), doc("6"), doc("7"), doc("8"), doc("9")))
			more := must(u.AddToAlbum(nil, ms[0].MediaGroupID, doc("10"), doc("11")))
			return []string{albumLine(ms), albumLine(more)}
		}},
	}
	for _, spooled := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if spooled {
				name = "spool/" + name // collected from the spool's deliveries
			}
			t.Run(name, func(t *testing.T) {
				srv := emulator(t)
				s := &seen{}
				opts := []tidygram.Option{tidygram.WithAlbums(testAlbumWait)}
				mem := spooltest.New()
				if spooled {
					opts = append(opts, tidygram.WithSpool(mem))
				}
				start(t, albumBot(t, srv, s, opts...))
				want := tt.send(t, srv.NewUser("alice"))
				eventually(t, 10*time.Second, "handlers saw everything", func() bool { return len(s.list()) >= len(want) })
				if got := s.list(); !slices.Equal(got, want) {
					t.Fatalf("handlers saw\n%q\nwant\n%q", got, want)
				}
				eventually(t, 10*time.Second, "every part confirmed", func() bool { return srv.Pending() == 0 && mem.Len() == 0 })
			})
		}
	}
}

func must(ms []tgtest.Message, err error) []tgtest.Message {
	if err != nil {
		panic(err)
	}
	return ms
}

func must1(m tgtest.Message, err error) tgtest.Message {
	if err != nil {
		panic(err)
	}
	return m
}

func albumLine(ms []tgtest.Message) string {
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.MessageID
	}
	return fmt.Sprintf("album %d %v", ids[0], ids)
}

// TestAlbumHeldAtStopIsHandled: an album still waiting for parts when the
// bot stops is queued for the drain, handled, and confirmed by the final
// confirmation; no goroutine is left (strict leaks).
func TestAlbumHeldAtStopIsHandled(t *testing.T) {
	srv := emulator(t)
	s := &seen{}
	bot := albumBot(t, srv, s, tidygram.WithAlbums(time.Hour))
	r := start(t, bot)
	alice, bob := srv.NewUser("alice"), srv.NewUser("bob")
	ms := must(alice.SendAlbum(tgtest.Media{Name: "a", Data: []byte("a")}, tgtest.Media{Name: "b", Data: []byte("b")}))
	must1(bob.Send("marker")) // enqueued after the album: once handled, the album was received
	eventually(t, 10*time.Second, "the marker handled", func() bool { return slices.Contains(s.list(), "text marker") })
	if got := s.list(); len(got) != 1 {
		t.Fatalf("handled before the stop: %q (the album waits an hour)", got)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := s.list(); !slices.Equal(got, []string{"text marker", albumLine(ms)}) {
		t.Fatalf("handled %q", got)
	}
	if n := srv.Pending(); n != 0 {
		t.Fatalf("%d updates unconfirmed after the stop", n)
	}
}

// TestAlbumsNotCollectedByDefault: without OnAlbum or WithAlbums every
// part is its own update, at once; Context.Album holds the part itself.
func TestAlbumsNotCollectedByDefault(t *testing.T) {
	srv := emulator(t)
	s := &seen{}
	bot := newBot(t, srv)
	bot.On(router.MediaGroup(), func(c *tidygram.Context) error {
		s.add("part %d of %d", c.Update.Message.MessageID, len(c.Album()))
		return nil
	})
	start(t, bot)
	ms := must(srv.NewUser("alice").SendAlbum(tgtest.Media{Name: "a", Data: []byte("a")}, tgtest.Media{Name: "b", Data: []byte("b")}))
	eventually(t, 10*time.Second, "both parts handled", func() bool { return len(s.list()) == 2 })
	want := []string{fmt.Sprintf("part %d of 1", ms[0].MessageID), fmt.Sprintf("part %d of 1", ms[1].MessageID)}
	if got := s.list(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestAlbumsManyChats: albums of many chats at once are collected apart;
// each handler runs once per album, with every part.
func TestAlbumsManyChats(t *testing.T) {
	const users = 40
	srv := emulator(t)
	var mu sync.Mutex
	parts := map[int64]int{}
	calls := 0
	bot := newBot(t, srv, tidygram.WithAlbums(testAlbumWait))
	bot.OnAlbum(func(c *tidygram.Context) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		parts[c.Chat().ID] += len(c.Album())
		return nil
	})
	start(t, bot)
	want := map[int64]int{}
	for i := range users {
		u := srv.NewUser(fmt.Sprint("user", i))
		want[u.ChatID()] = 1 + i%10
		items := make([]tgtest.Media, 1+i%10)
		for j := range items {
			items[j] = tgtest.Media{Name: "f", Data: []byte{byte(j)}}
		}
		must(u.SendAlbum(items...))
	}
	eventually(t, 15*time.Second, "every album handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls >= users
	})
	mu.Lock()
	defer mu.Unlock()
	if calls != users || len(parts) != users {
		t.Fatalf("%d calls over %d chats, want %d", calls, len(parts), users)
	}
	for chat, n := range parts {
		if n != want[chat] {
			t.Fatalf("chat %d: %d parts, want %d", chat, n, want[chat])
		}
	}
}

func TestWithAlbumsOption(t *testing.T) {
	if _, err := tidygram.New("1:x", tidygram.WithAlbums(-time.Second)); err == nil {
		t.Fatal("a negative wait is accepted")
	}
}

// TestAlbumsOverWebhook: with AckImmediately the parts are collected as
// when polling; with the default (answer after the handler) Telegram sends
// a chat's next part only after the answer, so each part is handled alone
// and at once.
func TestAlbumsOverWebhook(t *testing.T) {
	for _, ack := range []bool{true, false} {
		t.Run(fmt.Sprint("ack immediately ", ack), func(t *testing.T) {
			srv := emulator(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s := &seen{}
			bot := albumBot(t, srv, s, tidygram.WithAlbums(testAlbumWait), tidygram.WithWebhook(tidygram.WebhookConfig{
				Secret: "album", Addr: ln.Addr().String(), Listener: ln, Path: "/tg", URL: "http://" + ln.Addr().String() + "/tg",
				AckImmediately: ack,
			}))
			start(t, bot)
			eventually(t, 5*time.Second, "webhook set", func() bool { return bot.Me() != nil })
			doc := func(n string) tgtest.Media { return tgtest.Media{Name: n, Data: []byte(n)} }
			ms := must(srv.NewUser("alice").SendAlbum(doc("a"), doc("b"), doc("c")))
			want := []string{albumLine(ms)}
			if !ack {
				want = []string{albumLine(ms[:1]), albumLine(ms[1:2]), albumLine(ms[2:])}
			}
			eventually(t, 10*time.Second, "handlers saw everything", func() bool { return len(s.list()) >= len(want) })
			if got := s.list(); !slices.Equal(got, want) {
				t.Fatalf("handlers saw %q, want %q", got, want)
			}
		})
	}
}
