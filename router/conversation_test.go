package router

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/tg"
)

type orderData struct {
	Size    string `json:"size,omitempty"`
	Address string `json:"address,omitempty"`
}

// testClock is a clock moved by hand.
type testClock struct{ t time.Time }

func (c *testClock) Now() time.Time          { return c.t }
func (c *testClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func from(userID int64, s string) *tg.Update {
	return &tg.Update{UpdateID: 1, Message: &tg.Message{Chat: tg.Chat{ID: userID, Type: "private"}, From: &tg.User{ID: userID}, Text: s}}
}

func TestConversationRoutes(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	store := session.NewMemory(session.WithClock(clock.Now))
	order := NewConversation[orderData](store, session.WithClock(clock.Now), session.WithTTL(10*time.Minute)).Steps("size", "address")
	var replies []string
	say := func(s string) error { replies = append(replies, s); return nil }

	r := New()
	r.UseOuter(order.Middleware())
	r.When(order.Active()).OnCommand("cancel", func(c *Context) error {
		order.State(c).End()
		return say("cancelled")
	})
	r.When(order.In("size")).OnText(func(c *Context) error {
		if c.Text() != "S" && c.Text() != "L" {
			return say("S or L?")
		}
		st := order.State(c)
		st.Data().Size = c.Text()
		if err := st.Enter("address"); err != nil {
			return err
		}
		return say("address?")
	})
	r.When(InStep("address")).OnText(func(c *Context) error {
		st := order.State(c)
		if c.Text() == "fail" {
			st.End() // discarded: the handler fails
			return errors.New("stop: failed")
		}
		d := *st.Data()
		st.End()
		return say("ordered " + d.Size + " to " + c.Text())
	})
	r.OnCommand("order", func(c *Context) error {
		if err := order.State(c).Enter("size"); err != nil {
			return err
		}
		return say("size?")
	})
	r.OnText(func(c *Context) error { return say("echo " + c.Text()) })
	r.Freeze()

	steps := []struct {
		user    int64
		advance time.Duration
		text    string
		reply   string
		step    string // after
	}{
		{1, 0, "hi", "echo hi", ""},
		{1, 0, "/cancel", "echo /cancel", ""}, // no conversation: /cancel's route does not apply
		{1, 0, "/order", "size?", "size"},
		{2, 0, "L", "echo L", ""}, // another user is not in it
		{1, 0, "XL", "S or L?", "size"},
		{1, 0, "L", "address?", "address"},
		{1, 0, "fail", "", "address"}, // the handler failed: nothing moved
		{1, 0, "Main St", "ordered L to Main St", ""},
		{1, 0, "/order", "size?", "size"},
		{1, 0, "/cancel", "cancelled", ""},
		{1, 0, "/order", "size?", "size"},
		{1, 11 * time.Minute, "S", "echo S", ""}, // timed out
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		replies = nil
		u := from(s.user, s.text)
		name, h, ok := r.Match(u)
		if !ok {
			t.Fatalf("step %d: no route", i)
		}
		if err := h(NewContext(context.Background(), u, nil, name, nil)); err != nil && !strings.HasPrefix(err.Error(), "stop") {
			t.Fatalf("step %d: %v", i, err)
		}
		step, _, err := order.Session().Current(context.Background(), order.Session().Key(s.user, s.user))
		if got := strings.Join(replies, "|"); got != s.reply || step != s.step || err != nil {
			t.Fatalf("step %d (%q): replied %q, at %q (%v); want %q at %q", i, s.text, got, step, err, s.reply, s.step)
		}
	}
	if store.Len() != 0 {
		t.Errorf("%d entries left after every conversation ended", store.Len())
	}
}

// Without its middleware, State panics with a message naming the cause;
// updates without a chat or user get no state.
func TestConversationStateWithoutMiddleware(t *testing.T) {
	order := NewConversation[orderData](session.NewMemory()).Steps("size")
	c := NewContext(context.Background(), from(1, "x"), nil, "", nil)
	if order.In("size")(c) || order.Active()(c) || InStep("size")(c) {
		t.Error("a filter matched without the middleware")
	}
	var st *session.State[orderData]
	err := order.Middleware()(func(c *Context) error {
		st = order.State(c)
		if order.Active()(c) {
			t.Error("Active without a key")
		}
		return nil
	})(NewContext(context.Background(), &tg.Update{InlineQuery: &tg.InlineQuery{ID: "q"}}, nil, "", nil))
	if err != nil || st != nil {
		t.Errorf("keyless update: state %v, err %v", st, err)
	}
	defer func() {
		if v := recover(); v == nil || !strings.Contains(v.(string), "UseOuter") {
			t.Errorf("State without middleware: recovered %v", v)
		}
	}()
	order.State(c)
}

func TestConversationInPanicsOnUnknownStep(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("In of an undeclared step did not panic")
		}
	}()
	NewConversation[orderData](session.NewMemory()).Steps("size").In("color")
}
