package tgtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tidygram/tidygram/internal/wait"
)

// ctl calls the control API and decodes {"ok":…,"result":…}.
func ctl(t *testing.T, s *Server, method, path string, body any, result any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL()+path, rd)
	resp, err := sharedClient(t, s).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if env.OK != (resp.StatusCode == 200) {
		t.Fatalf("%s %s: ok=%v status %d", method, path, env.OK, resp.StatusCode)
	}
	if result != nil && env.OK {
		if err := json.Unmarshal(env.Result, result); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, env.Result, err)
		}
	}
	return resp.StatusCode
}

func TestControlAPIRoundTrip(t *testing.T) {
	s := newTestServer(t)
	var index []map[string]string
	if ctl(t, s, "GET", "/_tgtest/", nil, &index) != 200 || len(index) < 20 {
		t.Fatalf("index %v", index)
	}
	for _, e := range index { // snake_case keys, like the rest of the API
		if len(e) != 3 || !strings.Contains(e["route"], " /_tgtest/") || e["result"] == "" {
			t.Fatalf("index entry %v: want the keys route, body and result", e)
		}
		if _, ok := e["body"]; !ok {
			t.Fatalf("index entry %v has no body key", e)
		}
	}
	var u User
	ctl(t, s, "POST", "/_tgtest/users", map[string]string{"name": "Zoe"}, &u)
	var g Chat
	ctl(t, s, "POST", "/_tgtest/groups", map[string]string{"title": "crew"}, &g)
	if u.ID == 0 || u.Username != "zoe" || g.ID >= 0 || g.Type != "supergroup" {
		t.Fatalf("user %+v group %+v", u, g)
	}
	base := "/_tgtest/users/" + itoa64(u.ID)
	var m Message
	ctl(t, s, "POST", base+"/command", map[string]any{"command": "start", "args": "deep"}, &m)
	if m.Text != "/start deep" {
		t.Fatalf("command %+v", m)
	}
	ctl(t, s, "POST", base+"/join", map[string]any{"chat_id": g.ID}, nil)
	ctl(t, s, "POST", base+"/send", map[string]any{"text": "in group", "chat_id": g.ID}, &m)
	if m.Chat.ID != g.ID {
		t.Fatalf("group send %+v", m)
	}
	ctl(t, s, "POST", base+"/document", map[string]any{"name": "a.txt", "file": base64.StdEncoding.EncodeToString([]byte("abc"))}, &m)
	if m.Document == nil || m.Document.FileSize != 3 {
		t.Fatalf("document %+v", m)
	}
	var pushed map[string]int64
	ctl(t, s, "POST", "/_tgtest/updates", map[string]any{"update_id": 999, "message": map[string]any{"message_id": 1, "date": 1, "chat": map[string]any{"id": 5, "type": "private"}, "text": "raw"}}, &pushed)
	ups := getUpdates(t, s, nil)
	if len(ups) != 5 || ups[4].UpdateID != pushed["update_id"] || ups[4].Message.Text != "raw" {
		t.Fatalf("updates %v pushed %v", updateIDs(ups), pushed)
	}
	// The bot answers with a keyboard; the user presses it via the API.
	sent := decodeResult[Message](t, call(t, s, "sendMessage", map[string]any{"chat_id": u.ID, "text": "pick",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "A", "callback_data": "a"}}}}}))
	var msgs []Message
	ctl(t, s, "GET", "/_tgtest/chats/"+itoa64(u.ID)+"/messages?n=1&timeout=5s", nil, &msgs)
	if len(msgs) != 1 || msgs[0].Text != "pick" {
		t.Fatalf("messages %+v", msgs)
	}
	var q map[string]string
	ctl(t, s, "POST", base+"/press", map[string]any{"chat_id": u.ID, "message_id": sent.MessageID, "data": "a"}, &q)
	mustOK(t, call(t, s, "answerCallbackQuery", map[string]any{"callback_query_id": q["callback_query_id"], "text": "done"}))
	var ans CallbackAnswer
	ctl(t, s, "GET", "/_tgtest/callbacks/"+q["callback_query_id"], nil, &ans)
	if ans.Text != "done" {
		t.Fatalf("answer %+v", ans)
	}
	if code := ctl(t, s, "POST", base+"/press", map[string]any{"chat_id": u.ID, "message_id": sent.MessageID, "data": "zzz"}, nil); code != 400 {
		t.Fatalf("press of a missing button: %d", code)
	}
	// Faults and flood through the API.
	ctl(t, s, "POST", "/_tgtest/faults", map[string]any{"method": "getMe", "script": []map[string]any{{"kind": "429", "retry_after": 3}}}, nil)
	wantError(t, call(t, s, "getMe", nil), 429, "Too Many Requests: retry after 3")
	ctl(t, s, "POST", "/_tgtest/faults", map[string]any{"method": "getMe", "probability": 1, "fault": map[string]any{"kind": "500"}}, nil)
	wantError(t, call(t, s, "getMe", nil), 500, "Internal Server Error")
	ctl(t, s, "DELETE", "/_tgtest/faults", nil, nil)
	mustOK(t, call(t, s, "getMe", nil))
	if code := ctl(t, s, "POST", "/_tgtest/faults", map[string]any{"method": "getMe", "script": []map[string]any{{"kind": "boom"}}}, nil); code != 400 {
		t.Fatalf("bad fault kind: %d", code)
	}
	ctl(t, s, "PUT", "/_tgtest/flood", map[string]any{"enabled": true, "limits": map[string]any{"per_chat": 0.01, "chat_burst": 1}}, nil)
	mustOK(t, call(t, s, "sendMessage", map[string]any{"chat_id": u.ID, "text": "1"}))
	wantError(t, call(t, s, "sendMessage", map[string]any{"chat_id": u.ID, "text": "2"}), 429, "Too Many Requests")
	var c Counters
	ctl(t, s, "GET", "/_tgtest/counters", nil, &c)
	if c.Faults[FaultTooMany] != 1 || c.Faults[FaultInternal] != 1 || c.FloodRejections != 1 || c.UpdatesEnqueued != 6 ||
		c.Requests["sendMessage"][429] != 1 || c.MessagesPerChat[u.ID] != 2 || c.ConnsAccepted == 0 || c.BytesIn == 0 {
		t.Fatalf("counters %+v", c)
	}
	ctl(t, s, "POST", "/_tgtest/reset", nil, nil)
	var c2 Counters
	ctl(t, s, "GET", "/_tgtest/counters", nil, &c2)
	if c2.UpdatesEnqueued != 0 || len(c2.Faults) != 0 || c2.UpdatesPending != 0 || len(c2.MessagesPerChat) != 0 || len(c2.Requests) != 0 {
		t.Fatalf("after reset %+v", c2)
	}
	if code := ctl(t, s, "POST", base+"/send", map[string]any{"text": "stale"}, nil); code != 404 {
		t.Fatalf("user after reset: %d", code)
	}
	if code := ctl(t, s, "POST", "/_tgtest/users", map[string]any{"nme": "typo"}, nil); code != 400 {
		t.Fatalf("unknown field: %d", code)
	}
}

// TestCloseLeavesNoGoroutine exercises everything that starts goroutines
// or holds requests, then checks Close ends all of it.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := NewServer(WithWebhookRetry(5*time.Millisecond, 20*time.Millisecond, 0))
	h := newHook(t)
	h.gate = make(chan struct{}) // deliveries hang in the receiver
	u := s.NewUser("leak")
	c := testClient(t)
	errc := make(chan error, 3)
	s.ScriptFaults("getMe", Fault{Kind: FaultHang})
	s.ScriptFaults("getMyCommands", Fault{Kind: FaultTrickle, Duration: time.Minute})
	for _, m := range []string{"getMe", "getMyCommands", "getUpdates"} {
		go func() {
			_, _, _, err := rawCall(t.Context(), c, s, m, map[string]any{"timeout": 50})
			errc <- err
		}()
	}
	wait.Until(t, 20*time.Second, "the long poll held, one trickle and one hang", func() bool {
		f := s.Counters().Faults
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poller != nil && f[FaultTrickle] == 1 && f[FaultHang] == 1
	})
	sendN(t, u, 1)
	// The poll returns the update; set a webhook whose delivery hangs.
	mustOK(t, call(t, s, "setWebhook", map[string]any{"url": h.srv.URL}))
	sendN(t, u, 1)
	<-h.arrived
	s.Close()
	for i := 0; i < 3; i++ {
		<-errc
	}
	c.CloseIdleConnections()
	close(h.gate)
	h.srv.Close()
	goleak.VerifyNone(t, ignore)
}
