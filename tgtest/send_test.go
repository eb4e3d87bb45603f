package tgtest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestErrorShapes(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("gina")
	cases := []struct {
		name   string
		path   string
		body   string
		status int
		desc   string
	}{
		{"wrong token", "/bot123456:WRONG/getMe", "", 401, "Unauthorized"},
		{"no token", "/bot/getMe", "", 401, "Unauthorized"},
		{"unknown method", "/bot" + s.Token() + "/sendTelepathy", "", 404, "Not Found"},
		{"unknown path", "/favicon.ico", "", 404, "Not Found"},
		{"chat not found", "/bot" + s.Token() + "/sendMessage", `{"chat_id":42,"text":"x"}`, 400, "Bad Request: chat not found"},
		{"chat_id missing", "/bot" + s.Token() + "/sendMessage", `{"text":"x"}`, 400, "Bad Request: chat_id is empty"},
		{"empty text", "/bot" + s.Token() + "/sendMessage", `{"chat_id":` + itoa64(u.ID()) + `,"text":""}`, 400, "Bad Request: message text is empty"},
		{"edit not found", "/bot" + s.Token() + "/editMessageText", `{"chat_id":` + itoa64(u.ID()) + `,"message_id":99,"text":"x"}`, 400, "Bad Request: message to edit not found"},
		{"bad json", "/bot" + s.Token() + "/sendMessage", `{"chat_id":`, 400, "Bad Request: "},
		{"bad parse_mode", "/bot" + s.Token() + "/sendMessage", `{"chat_id":` + itoa64(u.ID()) + `,"text":"x","parse_mode":"BBCode"}`, 400, "Bad Request: unsupported parse_mode"},
		{"entity out of bounds", "/bot" + s.Token() + "/sendMessage", `{"chat_id":` + itoa64(u.ID()) + `,"text":"x","entities":[{"type":"bold","offset":0,"length":5}]}`, 400, "Bad Request: can't parse entities"},
		{"too long", "/bot" + s.Token() + "/sendMessage", `{"chat_id":` + itoa64(u.ID()) + `,"text":"` + strings.Repeat("я", 4097) + `"}`, 400, "Bad Request: message is too long"},
	}
	c := testClient(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL()+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			env := do(t, c, req)
			wantError(t, env, tc.status, tc.desc)
		})
	}
	got := s.Counters().Requests
	if got["unknown"][401] != 2 || got["unknown"][404] != 1 || got["sendMessage"][400] < 6 {
		t.Fatalf("request counters %v", got)
	}
}

func itoa64(n int64) string { return fmtInt(n) }

func TestMethodNamesCaseInsensitive(t *testing.T) {
	s := newTestServer(t)
	for _, m := range []string{"getMe", "getme", "GETME"} {
		me := decodeResult[User](t, call(t, s, m, nil))
		if !me.IsBot || me.Username != "tgtest_bot" || me.ID != 123456 {
			t.Fatalf("%s: %+v", m, me)
		}
	}
}

func TestSendEditDeleteFlow(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("hank")
	in, err := u.Send("question")
	if err != nil {
		t.Fatal(err)
	}
	kb := map[string]any{"inline_keyboard": [][]map[string]any{{{"text": "Yes", "callback_data": "vote:1"}, {"text": "Site", "url": "https://example.org"}}}}
	m := decodeResult[Message](t, call(t, s, "sendMessage", map[string]any{
		"chat_id": u.ChatID(), "text": "hello *there*", "parse_mode": "MarkdownV2",
		"entities": []MessageEntity{{Type: "bold", Offset: 0, Length: 5}}, "reply_markup": kb,
		"reply_parameters": map[string]any{"message_id": in.MessageID},
	}))
	if m.Text != "hello *there*" || m.From == nil || !m.From.IsBot || m.Chat.ID != u.ChatID() || m.ReplyToMessage == nil ||
		m.ReplyToMessage.Text != "question" || len(m.Buttons()) != 2 || m.Buttons()[0].CallbackData != "vote:1" || m.Date == 0 {
		t.Fatalf("sent %+v", m)
	}
	// reply_markup given as a JSON string, as some clients send it.
	mustOK(t, call(t, s, "sendMessage", map[string]any{"chat_id": u.ChatID(), "text": "s", "reply_markup": `{"inline_keyboard":[[{"text":"a","callback_data":"b"}]]}`}))
	wantError(t, call(t, s, "sendMessage", map[string]any{"chat_id": u.ChatID(), "text": "r", "reply_parameters": map[string]any{"message_id": 999}}), 400, "Bad Request: message to be replied not found")

	ed := decodeResult[Message](t, call(t, s, "editMessageText", map[string]any{"chat_id": u.ChatID(), "message_id": m.MessageID, "text": "edited", "reply_markup": kb}))
	if ed.Text != "edited" || ed.EditDate == 0 || ed.MessageID != m.MessageID {
		t.Fatalf("edited %+v", ed)
	}
	wantError(t, call(t, s, "editMessageText", map[string]any{"chat_id": u.ChatID(), "message_id": m.MessageID, "text": "edited", "reply_markup": kb}), 400, "Bad Request: message is not modified")
	wantError(t, call(t, s, "editMessageText", map[string]any{"chat_id": u.ChatID(), "message_id": in.MessageID, "text": "x"}), 400, "Bad Request: message can't be edited")
	rm := decodeResult[Message](t, call(t, s, "editMessageReplyMarkup", map[string]any{"chat_id": u.ChatID(), "message_id": m.MessageID}))
	if rm.ReplyMarkup != nil {
		t.Fatalf("markup not removed: %+v", rm.ReplyMarkup)
	}
	if got := s.Messages(u.ChatID()); len(got) != 2 || got[0].Text != "edited" || got[0].ReplyMarkup != nil {
		t.Fatalf("history %+v", got)
	}
	mustOK(t, call(t, s, "deleteMessage", map[string]any{"chat_id": u.ChatID(), "message_id": m.MessageID}))
	wantError(t, call(t, s, "deleteMessage", map[string]any{"chat_id": u.ChatID(), "message_id": m.MessageID}), 400, "Bad Request: message to delete not found")
	if got := s.Messages(u.ChatID()); len(got) != 1 {
		t.Fatalf("after delete %+v", got)
	}
}

func TestForwardCopyActionCommands(t *testing.T) {
	s := newTestServer(t)
	a, b := s.NewUser("ivy"), s.NewUser("jack")
	in, _ := a.Send("forward me")
	fw := decodeResult[Message](t, call(t, s, "forwardMessage", map[string]any{"chat_id": b.ChatID(), "from_chat_id": a.ChatID(), "message_id": in.MessageID}))
	if fw.Text != "forward me" || fw.ForwardOrigin == nil || fw.ForwardOrigin.SenderUser.ID != a.ID() || fw.Chat.ID != b.ChatID() {
		t.Fatalf("forward %+v", fw)
	}
	cp := decodeResult[MessageID](t, call(t, s, "copyMessage", map[string]any{"chat_id": b.ChatID(), "from_chat_id": a.ChatID(), "message_id": in.MessageID}))
	if got := s.Messages(b.ChatID()); len(got) != 2 || got[1].MessageID != cp.MessageID || got[1].ForwardOrigin != nil || got[1].Text != "forward me" {
		t.Fatalf("copy %+v", got)
	}
	wantError(t, call(t, s, "forwardMessage", map[string]any{"chat_id": b.ChatID(), "from_chat_id": a.ChatID(), "message_id": 77}), 400, "Bad Request: message to forward not found")

	mustOK(t, call(t, s, "sendChatAction", map[string]any{"chat_id": a.ChatID(), "action": "typing"}))
	wantError(t, call(t, s, "sendChatAction", map[string]any{"chat_id": a.ChatID(), "action": "dancing"}), 400, "Bad Request: wrong parameter action")
	if s.ChatAction(a.ChatID()) != "typing" {
		t.Fatal("chat action not recorded")
	}

	cmds := []BotCommand{{Command: "start", Description: "Start"}, {Command: "help", Description: "Help"}}
	mustOK(t, call(t, s, "setMyCommands", map[string]any{"commands": cmds}))
	if got := decodeResult[[]BotCommand](t, call(t, s, "getMyCommands", nil)); len(got) != 2 || got[1].Command != "help" {
		t.Fatalf("commands %+v", got)
	}
	if got := decodeResult[[]BotCommand](t, call(t, s, "getMyCommands", map[string]any{"language_code": "de"})); len(got) != 0 {
		t.Fatalf("de commands %+v", got)
	}
	wantError(t, call(t, s, "setMyCommands", map[string]any{"commands": []BotCommand{{Command: "Bad Command", Description: "x"}}}), 400, "Bad Request: BOT_COMMAND_INVALID")
	mustOK(t, call(t, s, "deleteMyCommands", nil))
	if len(s.Commands()) != 0 {
		t.Fatal("commands not deleted")
	}
}

func TestFormEncodedParams(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("kate")
	m := decodeResult[Message](t, callForm(t, s, "sendMessage", url.Values{
		"chat_id":      {itoa64(u.ChatID())},
		"text":         {"12345"}, // a number-looking text stays text
		"reply_markup": {`{"inline_keyboard":[[{"text":"go","callback_data":"go"}]]}`},
	}))
	if m.Text != "12345" || len(m.Buttons()) != 1 {
		t.Fatalf("form send %+v", m)
	}
	// Query string parameters, as a GET.
	resp, err := testClient(t).Get(methodURL(s, "getChat") + "?chat_id=" + itoa64(u.ChatID()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET with query: %d", resp.StatusCode)
	}
}

func TestBlockedAndGroups(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("liam")
	if err := u.Block(); err != nil {
		t.Fatal(err)
	}
	wantError(t, call(t, s, "sendMessage", map[string]any{"chat_id": u.ChatID(), "text": "x"}), 403, "Forbidden: bot was blocked by the user")
	ups := getUpdates(t, s, nil)
	if len(ups) != 1 {
		t.Fatalf("updates %+v", ups)
	}
	g := s.NewGroup("club")
	if _, err := u.SendTo(g, "not a member yet"); !errorsIs(err, ErrNotMember) {
		t.Fatalf("want ErrNotMember, got %v", err)
	}
	if err := u.Join(g); err != nil {
		t.Fatal(err)
	}
	msg, err := u.CommandTo(g, "start", "now")
	if err != nil {
		t.Fatal(err)
	}
	if msg.Text != "/start@tgtest_bot now" || msg.Entities[0].Length != len("/start@tgtest_bot") || msg.Chat.Type != "supergroup" {
		t.Fatalf("group command %+v", msg)
	}
}

func TestHistoryBounded(t *testing.T) {
	s := newTestServer(t, WithHistoryLimit(5))
	u := s.NewUser("mia")
	for i := 0; i < 12; i++ {
		mustOK(t, call(t, s, "sendMessage", map[string]any{"chat_id": u.ChatID(), "text": "n" + itoa64(int64(i))}))
	}
	got := s.Messages(u.ChatID())
	if len(got) != 5 || got[0].Text != "n7" || got[4].Text != "n11" {
		t.Fatalf("history %+v", got)
	}
	c := s.Counters()
	if c.HistoryDropped != 7 || c.MessagesPerChat[u.ChatID()] != 12 {
		t.Fatalf("counters dropped=%d perchat=%v", c.HistoryDropped, c.MessagesPerChat)
	}
	// Dropped messages can no longer be edited.
	wantError(t, call(t, s, "editMessageText", map[string]any{"chat_id": u.ChatID(), "message_id": 1, "text": "x"}), 400, "Bad Request: message to edit not found")
}

func TestFloodControl(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("nora")
	send := func(chat int64) envelope {
		return call(t, s, "sendMessage", map[string]any{"chat_id": chat, "text": "x"})
	}
	for i := 0; i < 10; i++ {
		mustOK(t, send(u.ChatID())) // off by default
	}
	s.SetFlood(true, FloodLimits{PerChat: 0.01, ChatBurst: 2, GroupPerMinute: 3})
	mustOK(t, send(u.ChatID()))
	mustOK(t, send(u.ChatID()))
	env := send(u.ChatID())
	wantError(t, env, 429, "Too Many Requests: retry after ")
	if env.Parameters == nil || env.Parameters.RetryAfter < 50 {
		t.Fatalf("retry_after %+v", env.Parameters)
	}
	g := s.NewGroup("flooded")
	s.SetFlood(true, FloodLimits{PerChat: 100, ChatBurst: 100, GroupPerMinute: 3})
	for i := 0; i < 3; i++ {
		mustOK(t, send(g.ID()))
	}
	wantError(t, send(g.ID()), 429, "Too Many Requests")
	// Per bot: 30/s.
	s.SetFlood(true, FloodLimits{PerChat: 1000, ChatBurst: 1000, PerSecond: 5})
	ok := 0
	for i := 0; i < 8; i++ {
		if send(u.ChatID()).OK {
			ok++
		}
	}
	if ok < 5 || ok > 6 {
		t.Fatalf("per bot limit 5/s let %d of 8 through", ok)
	}
	if n := s.Counters().FloodRejections; n < 4 {
		t.Fatalf("flood rejections %d", n)
	}
}
