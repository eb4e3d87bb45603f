package tgtest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
)

// echoBot is a minimal bot over raw HTTP: it long-polls with offset
// confirmation and answers commands, callback queries and inline queries.
// It runs until ctx ends; wait blocks until it returned.
func echoBot(ctx context.Context, t *testing.T, s *Server) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	c := testClient(t)
	callCtx := func(ctx context.Context, _ *testing.T, c *http.Client, s *Server, method string, params any) {
		req, err := newJSONRequest(ctx, s, method, params)
		if err != nil {
			t.Error(err)
			return
		}
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("%s: %v", method, err)
			}
			return
		}
		var env envelope
		if err := jsonDecode(resp.Body, &env); err != nil || !env.OK {
			t.Errorf("%s: %v %+v", method, err, env)
		}
		resp.Body.Close()
	}
	go func() {
		defer wg.Done()
		offset := int64(0)
		for ctx.Err() == nil {
			req, err := newJSONRequest(ctx, s, "getUpdates", map[string]any{"offset": offset, "timeout": 10})
			if err != nil {
				return
			}
			resp, err := c.Do(req)
			if err != nil {
				return
			}
			var env struct {
				OK     bool     `json:"ok"`
				Result []Update `json:"result"`
			}
			err = jsonDecode(resp.Body, &env)
			resp.Body.Close()
			if err != nil || !env.OK {
				return
			}
			for _, u := range env.Result {
				offset = u.UpdateID + 1
				switch {
				case u.Message != nil && strings.HasPrefix(u.Message.Text, "/start"):
					kb := map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "Vote 1", "callback_data": "vote:1"}, {"text": "Vote 2", "callback_data": "vote:2"}}}}
					callCtx(ctx, t, c, s, "sendMessage", map[string]any{"chat_id": u.Message.Chat.ID, "text": "welcome " + u.Message.From.FirstName, "reply_markup": kb})
				case u.Message != nil && u.Message.Document != nil:
					callCtx(ctx, t, c, s, "sendMessage", map[string]any{"chat_id": u.Message.Chat.ID, "text": "got " + u.Message.Document.FileName})
				case u.Message != nil && u.Message.Text != "":
					callCtx(ctx, t, c, s, "sendMessage", map[string]any{"chat_id": u.Message.Chat.ID, "text": "echo: " + u.Message.Text,
						"reply_parameters": map[string]any{"message_id": u.Message.MessageID}})
				case u.CallbackQuery != nil:
					callCtx(ctx, t, c, s, "answerCallbackQuery", map[string]any{"callback_query_id": u.CallbackQuery.ID, "text": "voted " + u.CallbackQuery.Data})
					callCtx(ctx, t, c, s, "editMessageText", map[string]any{"chat_id": u.CallbackQuery.Message.Chat.ID,
						"message_id": u.CallbackQuery.Message.MessageID, "text": "thanks for " + u.CallbackQuery.Data})
				case u.InlineQuery != nil:
					callCtx(ctx, t, c, s, "answerInlineQuery", map[string]any{"inline_query_id": u.InlineQuery.ID,
						"results": []map[string]any{{"type": "article", "id": "1", "title": u.InlineQuery.Query, "input_message_content": map[string]string{"message_text": "x"}}}})
				}
			}
		}
	}()
	return wg.Wait
}

func TestSimulatedUserFlows(t *testing.T) {
	s := newTestServer(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	stopBot := echoBot(ctx, t, s)
	defer stopBot()
	defer cancel()

	alice := s.NewUser("alice")
	if _, err := alice.Command("start", ""); err != nil {
		t.Fatal(err)
	}
	welcome, err := alice.WaitReply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if welcome.Text != "welcome alice" || len(welcome.Buttons()) != 2 {
		t.Fatalf("welcome %+v", welcome)
	}
	if _, err := alice.Press(welcome, "vote:3"); err == nil {
		t.Fatal("pressing a missing button succeeded")
	}
	qid, err := alice.Press(welcome, "vote:2")
	if err != nil {
		t.Fatal(err)
	}
	ans, err := alice.WaitCallbackAnswer(ctx, qid)
	if err != nil || ans.Text != "voted vote:2" {
		t.Fatalf("answer %+v %v", ans, err)
	}
	wait.Until(t, 20*time.Second, `the bot's "thanks for vote:2"`, func() bool { m := s.Messages(alice.ChatID()); return len(m) == 1 && m[0].Text == "thanks for vote:2" })
	// The keyboard was removed by the edit: pressing again fails.
	if _, err := alice.Press(welcome, "vote:1"); err == nil {
		t.Fatal("pressed a button the bot removed")
	}

	sent, _ := alice.Send("hello")
	echo, err := alice.WaitReply(ctx)
	if err != nil || echo.Text != "echo: hello" || echo.ReplyToMessage == nil || echo.ReplyToMessage.MessageID != sent.MessageID {
		t.Fatalf("echo %+v %v", echo, err)
	}
	if _, err := alice.SendDocument("report.csv", []byte("a,b\n1,2\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.WaitReply(ctx); err != nil || got.Text != "got report.csv" {
		t.Fatalf("document reply %+v %v", got, err)
	}
	iq, err := alice.InlineQuery("cats")
	if err != nil {
		t.Fatal(err)
	}
	inl, err := s.WaitInlineAnswer(ctx, iq)
	if err != nil || !strings.Contains(string(inl.Results), `"title":"cats"`) {
		t.Fatalf("inline %s %v", inl.Results, err)
	}

	// Groups.
	g := s.NewGroup("team")
	bob := s.NewUser("bob")
	for _, u := range []*SimUser{alice, bob} {
		if err := u.Join(g); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bob.SendTo(g, "hi all"); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.WaitMessages(ctx, g.ID(), 1)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "echo: hi all" {
		t.Fatalf("group %+v %v", msgs, err)
	}
	if err := bob.Leave(g); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendTo(g, "gone"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("left user wrote: %v", err)
	}
	// Waiting with a deadline for a reply that never comes.
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if _, err := bob.WaitReply(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestManyUsersCheap(t *testing.T) {
	s := newTestServer(t)
	users := make([]*SimUser, 10_000)
	for i := range users {
		users[i] = s.NewUser("load")
	}
	for i := 0; i < 50_000; i++ {
		if _, err := users[i%len(users)].Send("x"); err != nil {
			t.Fatal(err)
		}
	}
	if c := s.Counters(); c.UpdatesEnqueued != 50_000 || c.UpdatesPending != 50_000 {
		t.Fatalf("counters %+v", c.UpdatesEnqueued)
	}
	c := testClient(t)
	total := 0
	offset := int64(0)
	for {
		ids, err := pollIDs(c, s, offset)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			break
		}
		total += len(ids)
		offset = ids[len(ids)-1] + 1
	}
	if total != 50_000 || s.Pending() != 0 {
		t.Fatalf("drained %d, pending %d", total, s.Pending())
	}
}

func TestPushReplyAndPhoto(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("yara")
	id, err := s.Push(Update{UpdateID: 777, InlineQuery: &InlineQuery{ID: "q1", From: u.User(), Query: "go"}})
	if err != nil || id != 1 {
		t.Fatalf("push: %d %v", id, err)
	}
	if _, err := s.Push(Update{}); err == nil {
		t.Fatal("empty update accepted")
	}
	bot := decodeResult[Message](t, call(t, s, "sendMessage", map[string]any{"chat_id": u.ChatID(), "text": "question?"}))
	r, err := u.Reply(bot, "answer")
	if err != nil || r.ReplyToMessage == nil || r.ReplyToMessage.MessageID != bot.MessageID {
		t.Fatalf("reply %+v %v", r, err)
	}
	p, err := u.SendPhoto(tinyPNG(t, 4, 3), "look")
	if err != nil || len(p.Photo) != 1 || p.Photo[0].Width != 4 || p.Caption != "look" {
		t.Fatalf("photo %+v %v", p, err)
	}
	ups := getUpdates(t, s, nil)
	if len(ups) != 3 || ups[0].InlineQuery.Query != "go" || ups[1].Message.ReplyToMessage == nil || ups[2].Message.Photo == nil {
		t.Fatalf("updates %+v", ups)
	}
	// The bot can fetch the user's photo.
	f := decodeResult[File](t, call(t, s, "getFile", map[string]any{"file_id": p.Photo[0].FileID}))
	if code, body := download(t, s, f.FilePath); code != 200 || len(body) != int(p.Photo[0].FileSize) {
		t.Fatalf("download %d %d", code, len(body))
	}
	if h := s.History(u.ChatID()); len(h) != 3 || h[0].From.ID != s.Bot().ID || h[1].From.ID != u.ID() {
		t.Fatalf("history %+v", h)
	}
}
