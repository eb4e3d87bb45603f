package tgtest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
)

func sendN(t testing.TB, u *SimUser, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := u.Send("m"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGetUpdatesOffsetSemantics(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("alice")
	sendN(t, u, 5)

	// Unconfirmed updates are returned again, ids increase by one.
	first := getUpdates(t, s, nil)
	if got := updateIDs(first); !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("ids %v", got)
	}
	again := getUpdates(t, s, map[string]any{"limit": 2})
	if got := updateIDs(again); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("limit 2: ids %v", got)
	}
	// offset confirms every earlier update.
	after := getUpdates(t, s, map[string]any{"offset": 4})
	if got := updateIDs(after); !slices.Equal(got, []int64{4, 5}) {
		t.Fatalf("offset 4: ids %v", got)
	}
	if got := updateIDs(getUpdates(t, s, nil)); !slices.Equal(got, []int64{4, 5}) {
		t.Fatalf("after confirm: ids %v", got)
	}
	if got := getUpdates(t, s, map[string]any{"offset": 6}); len(got) != 0 {
		t.Fatalf("offset 6: %v", updateIDs(got))
	}
	c := s.Counters()
	if c.UpdatesEnqueued != 5 || c.UpdatesConfirmed != 5 || c.UpdatesDelivered != 5 || c.UpdatesRedelivered != 6 || c.UpdatesPending != 0 {
		t.Fatalf("counters %+v", c)
	}
	// Text of the update is the user's message.
	if first[0].Message == nil || first[0].Message.Text != "m" || first[0].Message.From.ID != u.ID() {
		t.Fatalf("update %+v", first[0])
	}
}

func TestGetUpdatesLimitClamp(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("bob")
	sendN(t, u, 150)
	for _, tc := range []struct {
		limit any
		want  int
	}{{nil, 100}, {0, 1}, {-5, 1}, {7, 7}, {100, 100}, {1000, 100}, {"3", 3}} {
		p := map[string]any{}
		if tc.limit != nil {
			p["limit"] = tc.limit
		}
		if got := len(getUpdates(t, s, p)); got != tc.want {
			t.Errorf("limit %v: got %d updates, want %d", tc.limit, got, tc.want)
		}
	}
}

func TestGetUpdatesNegativeOffset(t *testing.T) {
	s := newTestServer(t)
	sendN(t, s.NewUser("carol"), 10)
	got := getUpdates(t, s, map[string]any{"offset": -3})
	if ids := updateIDs(got); !slices.Equal(ids, []int64{8, 9, 10}) {
		t.Fatalf("offset -3: %v", ids)
	}
	// Earlier updates are forgotten.
	if ids := updateIDs(getUpdates(t, s, nil)); !slices.Equal(ids, []int64{8, 9, 10}) {
		t.Fatalf("after -3: %v", ids)
	}
	if d := s.Counters().UpdatesDropped; d != 7 {
		t.Fatalf("dropped %d, want 7", d)
	}
}

func TestGetUpdatesLongPoll(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("dave")
	done := make(chan []Update, 1)
	go func() { done <- getUpdates(t, s, map[string]any{"timeout": 30}) }()
	// The poll waits: nothing arrives while no update exists.
	wait.Until(t, 20*time.Second, "the long poll held", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poller != nil
	})
	select {
	case got := <-done:
		t.Fatalf("long poll returned early with %v", updateIDs(got))
	default:
	}
	if _, err := u.Send("wake"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if len(got) != 1 || got[0].Message.Text != "wake" {
			t.Fatalf("got %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long poll did not return on a new update")
	}
	// timeout=1 with nothing new returns an empty list.
	if got := getUpdates(t, s, map[string]any{"offset": 2, "timeout": 1}); len(got) != 0 {
		t.Fatalf("want empty, got %v", updateIDs(got))
	}
}

func TestGetUpdatesClientGoneAndClose(t *testing.T) {
	s := NewServer()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	c := testClient(t)
	go func() {
		req, _ := newJSONRequest(ctx, s, "getUpdates", map[string]any{"timeout": 50})
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	wait.Until(t, 20*time.Second, "the long poll held", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poller != nil })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled poll returned no error")
	}
	wait.Until(t, 20*time.Second, "the long poll gone", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poller == nil })

	// Close releases a pending long poll at once.
	go func() {
		req, _ := newJSONRequest(context.Background(), s, "getUpdates", map[string]any{"timeout": 50})
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	wait.Until(t, 20*time.Second, "the long poll held", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poller != nil })
	s.Close()
	<-errc
	if _, err := os.Stat(s.files.dir); !os.IsNotExist(err) {
		t.Fatalf("temp dir still there: %v", err)
	}
}

func TestAllowedUpdates(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("erin")
	g := s.NewGroup("team")
	// Default (no list): chat_member is not delivered.
	if err := u.Join(g); err != nil {
		t.Fatal(err)
	}
	got := getUpdates(t, s, nil)
	if len(got) != 1 || got[0].Message == nil || len(got[0].Message.NewChatMembers) != 1 {
		t.Fatalf("default filter: %+v", got)
	}
	// A list is sticky: only callback_query and chat_member from now on.
	getUpdates(t, s, map[string]any{"offset": got[0].UpdateID + 1, "allowed_updates": []string{"chat_member"}})
	if _, err := u.SendTo(g, "filtered"); err != nil {
		t.Fatal(err)
	}
	if err := u.Leave(g); err != nil {
		t.Fatal(err)
	}
	got = getUpdates(t, s, nil) // no allowed_updates: keeps the previous setting
	if len(got) != 1 || got[0].ChatMember == nil || got[0].ChatMember.NewChatMember.Status != "left" {
		t.Fatalf("sticky filter: %+v", got)
	}
	// An empty list restores the default.
	getUpdates(t, s, map[string]any{"offset": got[0].UpdateID + 1, "allowed_updates": []string{}})
	if _, err := u.Send("hi"); err != nil {
		t.Fatal(err)
	}
	if err := u.Join(g); err != nil {
		t.Fatal(err)
	}
	got = getUpdates(t, s, nil)
	kinds := []string{}
	for _, up := range got {
		switch {
		case up.ChatMember != nil:
			kinds = append(kinds, "chat_member")
		case up.Message != nil:
			kinds = append(kinds, "message")
		}
	}
	if !slices.Equal(kinds, []string{"message", "message"}) {
		t.Fatalf("default again: %v", kinds)
	}
}

func TestSecondPollerConflict(t *testing.T) {
	s := newTestServer(t)
	first := make(chan envelope, 1)
	go func() { first <- call(t, s, "getUpdates", map[string]any{"timeout": 30}) }()
	wait.Until(t, 20*time.Second, "the long poll held", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poller != nil })
	var wg sync.WaitGroup
	wg.Add(1)
	second := make(chan envelope, 1)
	go func() { defer wg.Done(); second <- call(t, s, "getUpdates", map[string]any{"timeout": 1}) }()
	wantError(t, <-first, 409, "Conflict: terminated by other getUpdates request")
	wg.Wait()
	mustOK(t, <-second)
}

func TestPushRawRealUpdates(t *testing.T) {
	s := newTestServer(t)
	for _, f := range []string{"001_message_command.json", "112_callback_query.json", "109_inline_query.json"} {
		raw, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PushRaw(raw); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	got := getUpdates(t, s, nil)
	if ids := updateIDs(got); !slices.Equal(ids, []int64{1, 2, 3}) {
		t.Fatalf("ids %v", ids)
	}
	if got[0].Message == nil || got[0].Message.Text != "/report" || got[1].CallbackQuery == nil || got[2].InlineQuery == nil {
		t.Fatalf("updates %+v", got)
	}
	// The chat of the captured message is now known: the bot can answer it.
	mustOK(t, call(t, s, "sendMessage", map[string]any{"chat_id": -1001293752024, "text": "pong"}))
	mustOK(t, call(t, s, "sendMessage", map[string]any{"chat_id": "@cryptoinside_talk", "text": "by username"}))
	for _, bad := range []string{`[]`, `{"update_id":1}`, `{"message":{},"poll":{}}`, `{"nope":{}}`, `{"message":`} {
		if _, err := s.PushRaw([]byte(bad)); err == nil {
			t.Errorf("PushRaw(%s) accepted", bad)
		}
	}
}

func TestQueueFull(t *testing.T) {
	s := newTestServer(t, WithMaxPending(3))
	u := s.NewUser("fred")
	sendN(t, u, 3)
	if _, err := u.Send("one too many"); !errorsIs(err, ErrQueueFull) {
		t.Fatalf("want ErrQueueFull, got %v", err)
	}
	if h := s.History(u.ChatID()); len(h) != 3 {
		t.Fatalf("a message that was not enqueued is in the history: %d messages", len(h))
	}
	getUpdates(t, s, map[string]any{"offset": 3})
	sendN(t, u, 2)
	if c := s.Counters(); c.UpdatesRejected != 1 || c.UpdatesPending != 3 {
		t.Fatalf("counters %+v", c)
	}
}

func TestPushRawMessagesCanBeRepliedTo(t *testing.T) {
	s := newTestServer(t)
	raw := `{"message":{"message_id":%d,"date":1,"chat":{"id":-5,"type":"group","title":"g"},"from":{"id":9,"is_bot":false,"first_name":"u"},"text":"t%d"}}`
	for i, id := range []int64{40, 1, 1} { // kept, then renumbered twice
		if _, err := s.PushRaw([]byte(fmt.Sprintf(raw, id, i))); err != nil {
			t.Fatal(err)
		}
	}
	got := getUpdates(t, s, nil)
	if ids := []int64{got[0].Message.MessageID, got[1].Message.MessageID, got[2].Message.MessageID}; !slices.Equal(ids, []int64{40, 41, 42}) {
		t.Fatalf("message ids %v", ids)
	}
	for _, id := range []int64{40, 42} {
		m := decodeResult[Message](t, call(t, s, "sendMessage", map[string]any{"chat_id": -5, "text": "re", "reply_parameters": map[string]any{"message_id": id}}))
		if m.ReplyToMessage == nil || m.ReplyToMessage.MessageID != id || m.MessageID <= 42 {
			t.Fatalf("reply to %d: %+v", id, m)
		}
	}
	mustOK(t, call(t, s, "forwardMessage", map[string]any{"chat_id": -5, "from_chat_id": -5, "message_id": 41}))
	wantError(t, call(t, s, "sendMessage", map[string]any{"chat_id": -5, "text": "re", "reply_parameters": map[string]any{"message_id": 39}}), 400, "Bad Request: message to be replied not found")
}

func TestAllowedUpdatesAsString(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("zed")
	getUpdates(t, s, map[string]any{"allowed_updates": `["callback_query"]`})
	sendN(t, u, 1)
	if got := getUpdates(t, s, nil); len(got) != 0 {
		t.Fatalf("message passed a callback_query-only filter: %+v", got)
	}
	wantError(t, call(t, s, "getUpdates", map[string]any{"allowed_updates": `[1`}), 400, "Bad Request: can't parse allowed_updates")
	info := decodeResult[WebhookInfo](t, call(t, s, "getWebhookInfo", nil))
	if len(info.AllowedUpdates) != 1 || info.AllowedUpdates[0] != "callback_query" {
		t.Fatalf("info %+v", info)
	}
}
