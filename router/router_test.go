package router

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tidygram/tidygram/tg"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func text(s string) *tg.Update {
	return &tg.Update{UpdateID: 1, Message: &tg.Message{Chat: tg.Chat{ID: 7, Type: "private"}, Text: s}}
}

func callback(data string) *tg.Update {
	return &tg.Update{UpdateID: 2, CallbackQuery: &tg.CallbackQuery{ID: "q", Data: data}}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in              string
		name, bot, args string
		ok              bool
	}{
		{"/start", "start", "", "", true},
		{"/start abc def", "start", "", "abc def", true},
		{"/start@MyBot x", "start", "MyBot", "x", true},
		{"/start\nnext line", "start", "", "next line", true},
		{"/", "", "", "", false},
		{"start", "", "", "", false},
		{"/with-dash", "", "", "", false},
		{"/" + strings.Repeat("a", 33), "", "", "", false},
		{"/ünï", "", "", "", false},
	}
	for _, tt := range tests {
		name, bot, args, ok := ParseCommand(tt.in)
		if name != tt.name || bot != tt.bot || args != tt.args || ok != tt.ok {
			t.Errorf("ParseCommand(%q) = %q %q %q %v, want %q %q %q %v", tt.in, name, bot, args, ok, tt.name, tt.bot, tt.args, tt.ok)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/start", "/a@b c", "/\n", "x", "/start@", "/@bot"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, _, args, ok := ParseCommand(s)
		if ok && (name == "" || len(name) > 32 || !strings.HasPrefix(s, "/"+name)) {
			t.Fatalf("ParseCommand(%q) accepted name %q", s, name)
		}
		if !ok && (name != "" || args != "") {
			t.Fatalf("ParseCommand(%q) rejected but returned parts", s)
		}
	})
}

func TestMatchOrderAndFilters(t *testing.T) {
	r := New()
	r.OnCommand("start", func(*Context) error { return nil })
	r.OnCallbackPrefix("vote:", func(*Context) error { return nil })
	r.On(TextEquals("ping"), func(*Context) error { return nil })
	r.OnText(func(*Context) error { return nil })
	r.Handle("edits", Kind("edited_message"), func(*Context) error { return nil })
	r.Freeze()
	tests := []struct {
		u    *tg.Update
		want string
	}{
		{text("/start"), "/start"},
		{text("/start@bot arg"), "/start"},
		{text("/help"), "text"},
		{text("ping"), "router.TestMatchOrderAndFilters.func3"},
		{text("hello"), "text"},
		{callback("vote:1"), "callback:vote:*"},
		{callback("other"), ""},
		{&tg.Update{UpdateID: 3, EditedMessage: &tg.Message{Text: "x"}}, "edits"},
	}
	for _, tt := range tests {
		name, h, ok := r.Match(tt.u)
		if name != tt.want || ok != (tt.want != "") || ok && h == nil {
			t.Errorf("Match(%s) = %q %v, want %q", tt.u.Kind(), name, ok, tt.want)
		}
	}
}

func TestMiddlewareAndGroups(t *testing.T) {
	var trail []string
	mark := func(s string) Middleware {
		return func(next Handler) Handler {
			return func(c *Context) error {
				trail = append(trail, s)
				return next(c)
			}
		}
	}
	r := New()
	r.Use(mark("root"))
	r.Group(CallbackPrefix("admin:"), func(g *Router) {
		g.Use(mark("admin"))
		g.OnCallback("admin:ban", func(*Context) error { trail = append(trail, "ban"); return nil })
		g.Fallback(func(*Context) error { trail = append(trail, "admin-fallback"); return nil })
	})
	r.OnCallbackPrefix("", func(*Context) error { trail = append(trail, "any"); return nil })
	r.Fallback(func(*Context) error { trail = append(trail, "fallback"); return nil })
	r.Freeze()

	run := func(u *tg.Update) string {
		trail = nil
		_, h, ok := r.Match(u)
		if !ok {
			return "no match"
		}
		if err := h(NewContext(context.Background(), u, nil, "", nil)); err != nil {
			t.Fatal(err)
		}
		return strings.Join(trail, ">")
	}
	tests := []struct {
		u    *tg.Update
		want string
	}{
		{callback("admin:ban"), "root>admin>ban"},
		{callback("admin:other"), "root>admin>admin-fallback"},
		{callback("user:x"), "root>any"},
		{text("hi"), "root>fallback"},
	}
	for _, tt := range tests {
		if got := run(tt.u); got != tt.want {
			t.Errorf("%s: ran %s, want %s", tt.u.Kind(), got, tt.want)
		}
	}
}

func TestRegisterAfterFreezePanics(t *testing.T) {
	r := New()
	r.Freeze()
	defer func() {
		if recover() == nil {
			t.Fatal("registering after Freeze did not panic")
		}
	}()
	r.OnText(func(*Context) error { return nil })
}

type shop struct{}

func (*shop) photo(*Context) error { return nil }

func greet(*Context) error { return nil }

// Routes names every route with its handler as stacks show it: groups'
// routes in place, a group's fallback after them, the root's last; a
// method value without its "-fm" wrapper, which stacks leave out.
func TestRoutes(t *testing.T) {
	r := New()
	closure := func(*Context) error { return nil }
	r.OnCommand("start", greet)
	r.Group(nil, func(g *Router) {
		g.OnCallback("buy", (&shop{}).photo)
		g.Fallback(closure)
	})
	r.When(func(*Context) bool { return true }).On(nil, greet)
	r.Fallback(greet)
	const pkg = "github.com/tidygram/tidygram/router."
	want := []Route{
		{"/start", pkg + "greet"},
		{"callback:buy", pkg + "(*shop).photo"},
		{"fallback", pkg + "TestRoutes.func1"},
		{"router.greet", pkg + "greet"},
		{"fallback", pkg + "greet"},
	}
	got := r.Routes()
	if len(got) != len(want) {
		t.Fatalf("Routes() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("route %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	r.Freeze()
	if again := r.Routes(); len(again) != len(want) {
		t.Errorf("after Freeze: %v", again)
	}
}
