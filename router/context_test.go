package router

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tidygram/tidygram/tg"
)

func TestCallbackExactAndPrefix(t *testing.T) {
	r := New()
	r.OnCallback("cancel", func(*Context) error { return nil })
	r.OnCallback("drink:tea:large", func(*Context) error { return nil })
	r.OnCallbackPrefix("drink:", func(*Context) error { return nil })
	r.Freeze()
	tests := []struct {
		data, want string // want "": no route
	}{
		{"cancel", "callback:cancel"},
		{"cancel:now", ""},
		{"cancelled", ""},
		{"cance", ""},
		{"drink:tea:large", "callback:drink:tea:large"},
		{"drink:tea", "callback:drink:*"},
		{"drink:", "callback:drink:*"},
		{"drink", ""},
		{"", ""},
	}
	for _, tt := range tests {
		name, _, ok := r.Match(callback(tt.data))
		if name != tt.want || ok != (tt.want != "") {
			t.Errorf("callback %q: route %q (matched %v), want %q", tt.data, name, ok, tt.want)
		}
	}
}

func TestCallbackFilters(t *testing.T) {
	tests := []struct {
		name   string
		f      Filter
		u      *tg.Update
		wanted bool
	}{
		{"exact equal", CallbackData("a:b"), callback("a:b"), true},
		{"exact longer", CallbackData("a:b"), callback("a:bc"), false},
		{"exact shorter", CallbackData("a:b"), callback("a:"), false},
		{"exact empty", CallbackData(""), callback(""), true},
		{"exact not a callback", CallbackData("a:b"), text("a:b"), false},
		{"prefix equal", CallbackPrefix("a:"), callback("a:"), true},
		{"prefix longer", CallbackPrefix("a:"), callback("a:b"), true},
		{"prefix other", CallbackPrefix("a:"), callback("b:a:"), false},
		{"prefix empty", CallbackPrefix(""), callback("anything"), true},
		{"prefix not a callback", CallbackPrefix(""), text("a:"), false},
	}
	for _, tt := range tests {
		if got := tt.f(tt.u); got != tt.wanted {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.wanted)
		}
	}
}

func TestMessage(t *testing.T) {
	m := &tg.Message{MessageID: 5, Chat: tg.Chat{ID: 7}}
	tests := []struct {
		name string
		u    *tg.Update
		want *tg.Message
	}{
		{"nil update", nil, nil},
		{"message", &tg.Update{Message: m}, m},
		{"edited message", &tg.Update{EditedMessage: m}, m},
		{"channel post", &tg.Update{ChannelPost: m}, m},
		{"edited channel post", &tg.Update{EditedChannelPost: m}, m},
		{"business message", &tg.Update{BusinessMessage: m}, m},
		{"edited business message", &tg.Update{EditedBusinessMessage: m}, m},
		{"guest message", &tg.Update{GuestMessage: m}, m},
		{"callback with its message", &tg.Update{CallbackQuery: &tg.CallbackQuery{Message: m}}, m},
		{"callback with an inaccessible message", &tg.Update{CallbackQuery: &tg.CallbackQuery{Message: &tg.InaccessibleMessage{Chat: tg.Chat{ID: 7}}}}, nil},
		{"callback from an inline message", &tg.Update{CallbackQuery: &tg.CallbackQuery{InlineMessageID: "i"}}, nil},
		{"inline query", &tg.Update{InlineQuery: &tg.InlineQuery{ID: "q"}}, nil},
	}
	for _, tt := range tests {
		if got := tt.u.EffectiveMessage(); got != tt.want {
			t.Errorf("%s: EffectiveMessage = %v, want %v", tt.name, got, tt.want)
		}
		if tt.u == nil {
			continue
		}
		c := NewContext(context.Background(), tt.u, nil, "", nil)
		if got := c.Message(); got != tt.want {
			t.Errorf("%s: Context.Message = %v, want %v", tt.name, got, tt.want)
		}
		if tt.want != nil && tt.u.Chat() != &tt.want.Chat {
			t.Errorf("%s: Update.Chat is not the chat of Message", tt.name)
		}
	}
}

func TestGoWithoutRuntime(t *testing.T) {
	c := NewContext(context.Background(), text("x"), nil, "", nil)
	ran := make(chan struct{}, 1)
	if err := c.Go(func(context.Context) { ran <- struct{}{} }); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Go without a runtime = %v, want ErrNotRunning", err)
	}
	select {
	case <-ran:
		t.Fatal("Go without a runtime ran fn")
	default: // and goleak (TestMain) finds no goroutine left
	}
}

// apiCall is one Bot API request the fake API received.
type apiCall struct {
	method string
	params map[string]any
}

// fakeAPI answers every Bot API call with result, or with a 400 error when
// fail is set, and records the calls.
type fakeAPI struct {
	mu    sync.Mutex
	calls []apiCall
}

func newClient(t *testing.T, api *fakeAPI, fail bool) *tg.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var params map[string]any
		if len(body) > 0 {
			if err := json.Unmarshal(body, &params); err != nil {
				t.Errorf("request body: %v", err)
			}
		}
		api.mu.Lock()
		api.calls = append(api.calls, apiCall{r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:], params})
		api.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if fail {
			io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: message is not modified"}`)
			return
		}
		io.WriteString(w, `{"ok":true,"result":{"message_id":99,"date":1,"chat":{"id":7,"type":"private"},"text":"sent"}}`)
	}))
	client, err := tg.NewClient("1:test", tg.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Close()
	})
	return client
}

func TestReplySendEdit(t *testing.T) {
	kb := InlineKeyboard(Row(CallbackButton("Yes", "yes"), URLButton("Site", "https://example.com")))
	kbJSON := map[string]any{"inline_keyboard": []any{[]any{
		map[string]any{"text": "Yes", "callback_data": "yes"},
		map[string]any{"text": "Site", "url": "https://example.com"},
	}}}
	msg := &tg.Message{MessageID: 5, Chat: tg.Chat{ID: 7, Type: "private"}, Text: "hi"}
	topic := &tg.Message{MessageID: 6, Chat: tg.Chat{ID: -100, Type: "supergroup"}, IsTopicMessage: true, MessageThreadID: 3}
	onMessage := &tg.Update{UpdateID: 1, Message: msg}
	onButton := &tg.Update{UpdateID: 2, CallbackQuery: &tg.CallbackQuery{ID: "q", Data: "yes", Message: msg}}
	onInline := &tg.Update{UpdateID: 3, CallbackQuery: &tg.CallbackQuery{ID: "q", Data: "yes", InlineMessageID: "im"}}
	noChat := &tg.Update{UpdateID: 4, InlineQuery: &tg.InlineQuery{ID: "iq"}}
	bizMsg := &tg.Message{MessageID: 8, Chat: tg.Chat{ID: 11, Type: "private"}, Text: "order?", BusinessConnectionID: "biz1"}
	onBusiness := &tg.Update{UpdateID: 5, BusinessMessage: bizMsg}
	onBusinessButton := &tg.Update{UpdateID: 6, CallbackQuery: &tg.CallbackQuery{ID: "q", Data: "x", Message: bizMsg}}
	var got *tg.Message

	tests := []struct {
		name   string
		u      *tg.Update
		fail   bool // the API answers with an error
		call   func(c *Context) error
		method string         // "": no call
		params map[string]any // the call's params
		err    error          // want errors.Is; nil: no error unless fail
		sent   bool           // Sent was passed: it stores the message, or nil if fail
	}{
		{name: "reply", u: onMessage, call: func(c *Context) error { return c.Reply("hello") },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "hello", "reply_parameters": map[string]any{"message_id": 5.0}}},
		{name: "reply with a keyboard", u: onMessage, call: func(c *Context) error { return c.Reply("pick", WithMarkup(kb)) },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "pick", "reply_parameters": map[string]any{"message_id": 5.0}, "reply_markup": kbJSON}},
		{name: "send with a keyboard", u: onMessage, call: func(c *Context) error { return c.Send("pick", WithMarkup(kb)) },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "pick", "reply_markup": kbJSON}},
		{name: "send with no keyboard", u: onMessage, call: func(c *Context) error { return c.Send("plain", WithMarkup(nil)) },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "plain"}},
		{name: "send with SendFunc", u: onMessage, call: func(c *Context) error {
			return c.Send("<b>x</b>", SendFunc(func(p *tg.SendMessageParams) { p.ParseMode = "HTML" }))
		}, method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "<b>x</b>", "parse_mode": "HTML"}},
		{name: "send in a forum topic", u: &tg.Update{Message: topic}, call: func(c *Context) error { return c.Send("t") },
			method: "sendMessage", params: map[string]any{"chat_id": -100.0, "text": "t", "message_thread_id": 3.0}},
		{name: "send keeps the message", u: onMessage, call: func(c *Context) error { return c.Send("x", Sent(&got)) },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "x"}, sent: true},
		{name: "reply fails", u: onMessage, fail: true, call: func(c *Context) error { return c.Reply("x", Sent(&got)) },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "x", "reply_parameters": map[string]any{"message_id": 5.0}}, sent: true},
		{name: "send fails (result not decoded)", u: onMessage, fail: true, call: func(c *Context) error { return c.Send("x") },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "x"}},
		{name: "reply to a button press", u: onButton, call: func(c *Context) error { return c.Reply("noted") },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "noted", "reply_parameters": map[string]any{"message_id": 5.0}}},
		{name: "send without a chat", u: noChat, call: func(c *Context) error { return c.Send("x") }, err: ErrNoChat},
		{name: "edit removes the keyboard", u: onButton, call: func(c *Context) error { return c.Edit("done") },
			method: "editMessageText", params: map[string]any{"chat_id": 7.0, "message_id": 5.0, "text": "done"}},
		{name: "edit with a keyboard", u: onButton, call: func(c *Context) error { return c.Edit("again", WithMarkup(kb), Sent(&got)) },
			method: "editMessageText", params: map[string]any{"chat_id": 7.0, "message_id": 5.0, "text": "again", "reply_markup": kbJSON}, sent: true},
		{name: "edit with EditFunc", u: onButton, call: func(c *Context) error {
			return c.Edit("*x*", EditFunc(func(p *tg.EditMessageTextParams) { p.ParseMode = "MarkdownV2" }))
		}, method: "editMessageText", params: map[string]any{"chat_id": 7.0, "message_id": 5.0, "text": "*x*", "parse_mode": "MarkdownV2"}},
		{name: "edit an inline message", u: onInline, call: func(c *Context) error { return c.Edit("in", WithMarkup(kb)) },
			method: "editMessageText", params: map[string]any{"inline_message_id": "im", "text": "in", "reply_markup": kbJSON}},
		{name: "edit fails", u: onButton, fail: true, call: func(c *Context) error { return c.Edit("same") },
			method: "editMessageText", params: map[string]any{"chat_id": 7.0, "message_id": 5.0, "text": "same"}},
		{name: "edit without a message", u: noChat, call: func(c *Context) error { return c.Edit("x") }, err: ErrNoChat},
		{name: "reply to a business message", u: onBusiness, call: func(c *Context) error { return c.Reply("on behalf") },
			method: "sendMessage", params: map[string]any{"chat_id": 11.0, "text": "on behalf", "business_connection_id": "biz1", "reply_parameters": map[string]any{"message_id": 8.0}}},
		{name: "send to a business chat", u: onBusiness, call: func(c *Context) error { return c.Send("hi") },
			method: "sendMessage", params: map[string]any{"chat_id": 11.0, "text": "hi", "business_connection_id": "biz1"}},
		{name: "send after an edited business message", u: &tg.Update{EditedBusinessMessage: bizMsg}, call: func(c *Context) error { return c.Send("seen") },
			method: "sendMessage", params: map[string]any{"chat_id": 11.0, "text": "seen", "business_connection_id": "biz1"}},
		{name: "edit a business message", u: onBusinessButton, call: func(c *Context) error { return c.Edit("edited") },
			method: "editMessageText", params: map[string]any{"chat_id": 11.0, "message_id": 8.0, "text": "edited", "business_connection_id": "biz1"}},
		{name: "send with a reply keyboard", u: onMessage, call: func(c *Context) error {
			kb := ReplyKeyboard(Row(TextButton("A"), ContactButton("Phone")), Row(LocationButton("Where")))
			kb.OneTimeKeyboard = true
			return c.Send("pick", WithMarkup(kb))
		}, method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "pick", "reply_markup": map[string]any{
			"keyboard": []any{
				[]any{map[string]any{"text": "A"}, map[string]any{"text": "Phone", "request_contact": true}},
				[]any{map[string]any{"text": "Where", "request_location": true}},
			},
			"resize_keyboard": true, "one_time_keyboard": true}}},
		{name: "send removing the keyboard", u: onMessage, call: func(c *Context) error { return c.Send("bye", WithMarkup(RemoveKeyboard())) },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "bye", "reply_markup": map[string]any{"remove_keyboard": true}}},
		{name: "reply forcing a reply", u: onMessage, call: func(c *Context) error { return c.Reply("name?", WithMarkup(ForceReply("Your name"))) },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "name?", "reply_parameters": map[string]any{"message_id": 5.0},
				"reply_markup": map[string]any{"force_reply": true, "input_field_placeholder": "Your name"}}},
		{name: "send with a nil reply keyboard", u: onMessage, call: func(c *Context) error { return c.Send("x", WithMarkup((*tg.ReplyKeyboardMarkup)(nil))) },
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "x"}},
		{name: "edit with a reply keyboard", u: onButton, call: func(c *Context) error { return c.Edit("x", WithMarkup(ReplyKeyboard())) }, err: ErrNotInline},
		{name: "edit with a nil inline keyboard", u: onButton, call: func(c *Context) error { return c.Edit("x", WithMarkup((*tg.InlineKeyboardMarkup)(nil))) },
			method: "editMessageText", params: map[string]any{"chat_id": 7.0, "message_id": 5.0, "text": "x"}},
		{name: "default parse mode", u: onMessage, call: withMode("HTML", func(c *Context) error { return c.Send("<b>x</b>") }),
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "<b>x</b>", "parse_mode": "HTML"}},
		{name: "default parse mode on edit", u: onButton, call: withMode("MarkdownV2", func(c *Context) error { return c.Edit("*x*") }),
			method: "editMessageText", params: map[string]any{"chat_id": 7.0, "message_id": 5.0, "text": "*x*", "parse_mode": "MarkdownV2"}},
		{name: "parse mode overrides the default", u: onMessage, call: withMode("HTML", func(c *Context) error { return c.Reply("*x*", WithParseMode("MarkdownV2")) }),
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "*x*", "parse_mode": "MarkdownV2", "reply_parameters": map[string]any{"message_id": 5.0}}},
		{name: "plain text despite the default", u: onMessage, call: withMode("HTML", func(c *Context) error { return c.Send("a < b", WithParseMode("")) }),
			method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "a < b"}},
		{name: "entities instead of the default", u: onButton, call: withMode("HTML", func(c *Context) error {
			return c.Edit("bold", WithEntities([]tg.MessageEntity{{Type: "bold", Length: 4}}))
		}), method: "editMessageText", params: map[string]any{"chat_id": 7.0, "message_id": 5.0, "text": "bold",
			"entities": []any{map[string]any{"type": "bold", "offset": 0.0, "length": 4.0}}}},
		{name: "SendFunc parse mode beats the default", u: onMessage, call: withMode("HTML", func(c *Context) error {
			return c.Send("x", SendFunc(func(p *tg.SendMessageParams) { p.ParseMode = "MarkdownV2" }))
		}), method: "sendMessage", params: map[string]any{"chat_id": 7.0, "text": "x", "parse_mode": "MarkdownV2"}},
		{name: "answer", u: onButton, call: func(c *Context) error { return c.Answer("ok") },
			method: "answerCallbackQuery", params: map[string]any{"callback_query_id": "q", "text": "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeAPI{}
			got = &tg.Message{MessageID: -1} // Sent must overwrite it
			c := NewContext(context.Background(), tt.u, newClient(t, api, tt.fail), "", nil)
			err := tt.call(c)
			var apiErr *tg.APIError
			switch {
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("error %v, want %v", err, tt.err)
			case tt.fail && !errors.As(err, &apiErr):
				t.Errorf("error %v, want the API's error", err)
			case tt.err == nil && !tt.fail && err != nil:
				t.Errorf("error %v", err)
			}
			if tt.method == "" {
				if len(api.calls) != 0 {
					t.Errorf("called %v, want no call", api.calls)
				}
				return
			}
			if len(api.calls) != 1 || api.calls[0].method != tt.method || !reflect.DeepEqual(api.calls[0].params, tt.params) {
				t.Errorf("calls %v, want one %s %v", api.calls, tt.method, tt.params)
			}
			switch {
			case tt.sent && !tt.fail && (got == nil || got.MessageID != 99):
				t.Errorf("Sent stored %+v, want message 99", got)
			case tt.sent && tt.fail && got != nil:
				t.Errorf("Sent stored %+v after a failed call, want nil", got)
			}
		})
	}
}

// The markup InlineKeyboard returns is the ReplyMarkup of every method
// that takes an inline keyboard, and encodes the same in each.
func TestInlineKeyboardFitsEveryMethod(t *testing.T) {
	kb := InlineKeyboard(Row(CallbackButton("A", "a")), Row(CallbackButton("B", "b"), CallbackButton("C", "c")))
	want := `{"inline_keyboard":[[{"text":"A","callback_data":"a"}],[{"text":"B","callback_data":"b"},{"text":"C","callback_data":"c"}]]}`
	for _, p := range []any{
		&tg.SendMessageParams{ReplyMarkup: kb},
		&tg.SendPhotoParams{ReplyMarkup: kb},
		&tg.EditMessageTextParams{ReplyMarkup: kb},
		&tg.EditMessageCaptionParams{ReplyMarkup: kb},
		&tg.EditMessageReplyMarkupParams{ReplyMarkup: kb},
	} {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(b, &fields); err != nil {
			t.Fatal(err)
		}
		if got := string(fields["reply_markup"]); got != want {
			t.Errorf("%T: reply_markup %s, want %s", p, got, want)
		}
	}
}

// withMode runs call as a handler behind DefaultParseMode(mode).
func withMode(mode string, call func(c *Context) error) func(c *Context) error {
	return func(c *Context) error { return DefaultParseMode(mode)(call)(c) }
}

func TestContextEntitiesAndCaption(t *testing.T) {
	m := &tg.Message{Chat: tg.Chat{ID: 1}, Text: "🎉 go https://go.dev #tag", Caption: "",
		Entities: []tg.MessageEntity{{Type: "url", Offset: 6, Length: 14}, {Type: "hashtag", Offset: 21, Length: 4}}}
	c := NewContext(context.Background(), &tg.Update{Message: m}, nil, "", nil)
	if got := c.Entities("url"); len(got) != 1 || got[0] != "https://go.dev" {
		t.Errorf("Entities(url) = %q", got)
	}
	if got := c.Entities(); len(got) != 2 || got[1] != "#tag" {
		t.Errorf("Entities() = %q", got)
	}
	photo := &tg.Message{Chat: tg.Chat{ID: 1}, Caption: "see @ann", CaptionEntities: []tg.MessageEntity{{Type: "mention", Offset: 4, Length: 4}}}
	c = NewContext(context.Background(), &tg.Update{Message: photo}, nil, "", nil)
	if got := c.Entities("mention"); c.Caption() != "see @ann" || len(got) != 1 || got[0] != "@ann" {
		t.Errorf("caption %q, Entities(mention) = %q", c.Caption(), got)
	}
	c = NewContext(context.Background(), &tg.Update{InlineQuery: &tg.InlineQuery{}}, nil, "", nil)
	if c.Entities() != nil || c.Caption() != "" || c.BusinessConnectionID() != "" || c.ParseMode() != "" {
		t.Error("an update without a message has entities, a caption or a connection")
	}
}
