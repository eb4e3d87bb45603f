package tgtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
)

// hook is a webhook receiver over 127.0.0.1 whose answers a test controls.
type hook struct {
	srv *httptest.Server

	mu       sync.Mutex
	got      []Update
	secrets  []string
	inflight int
	maxIn    int
	perChat  map[int64]int // in flight per chat
	overlap  bool          // two updates of one chat were in flight at once
	answer   func(u Update, attempt int) (int, string)
	attempts map[int64]int
	gate     chan struct{} // when not nil, every request waits for it to close
	arrived  chan struct{}
}

func newHook(t *testing.T) *hook {
	h := &hook{perChat: map[int64]int{}, attempts: map[int64]int{}, arrived: make(chan struct{}, 1000)}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func chatOf(u Update) int64 {
	switch {
	case u.Message != nil:
		return u.Message.Chat.ID
	case u.CallbackQuery != nil:
		return u.CallbackQuery.Message.Chat.ID
	}
	return 0
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var u Update
	if err := json.Unmarshal(body, &u); err != nil {
		w.WriteHeader(400)
		return
	}
	chat := chatOf(u)
	h.mu.Lock()
	h.inflight++
	h.maxIn = max(h.maxIn, h.inflight)
	h.perChat[chat]++
	if h.perChat[chat] > 1 {
		h.overlap = true
	}
	h.attempts[u.UpdateID]++
	attempt := h.attempts[u.UpdateID]
	gate := h.gate
	h.mu.Unlock()
	h.arrived <- struct{}{}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
		}
	}
	status, answer := 200, ""
	if h.answer != nil {
		status, answer = h.answer(u, attempt)
	}
	h.mu.Lock()
	h.inflight--
	h.perChat[chat]--
	if status/100 == 2 {
		h.got = append(h.got, u)
		h.secrets = append(h.secrets, r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
	}
	h.mu.Unlock()
	if answer != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func (h *hook) received() []Update {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Update(nil), h.got...)
}

func TestWebhookDeliveryAndSecret(t *testing.T) {
	s := newTestServer(t)
	h := newHook(t)
	u := s.NewUser("olga")
	sendN(t, u, 2) // pending before the webhook is set are delivered too
	mustOK(t, call(t, s, "setWebhook", map[string]any{"url": h.srv.URL + "/hook", "secret_token": "s3cr3t_-"}))
	sendN(t, u, 2)
	wait.Until(t, 20*time.Second, "4 updates delivered to the webhook", func() bool { return len(h.received()) == 4 })
	for i, up := range h.received() {
		if up.UpdateID != int64(i+1) || up.Message.Text != "m" {
			t.Fatalf("update %d: %+v", i, up)
		}
	}
	for _, sec := range h.secrets {
		if sec != "s3cr3t_-" {
			t.Fatalf("secret header %q", sec)
		}
	}
	wait.Until(t, 20*time.Second, "nothing pending", func() bool { return s.Pending() == 0 })
	info := decodeResult[WebhookInfo](t, call(t, s, "getWebhookInfo", nil))
	if info.URL != h.srv.URL+"/hook" || info.MaxConnections != 40 || info.PendingUpdateCount != 0 || info.LastErrorDate != 0 {
		t.Fatalf("info %+v", info)
	}
	// getUpdates conflicts while the webhook is set.
	wantError(t, call(t, s, "getUpdates", nil), 409, "Conflict: can't use getUpdates method while webhook is active")
	c := s.Counters()
	if c.WebhookDeliveries != 4 || c.UpdatesConfirmed != 4 || c.UpdatesDelivered != 4 {
		t.Fatalf("counters %+v", c)
	}
	wantError(t, call(t, s, "setWebhook", map[string]any{"url": "ftp://x"}), 400, "Bad Request: bad webhook")
	wantError(t, call(t, s, "setWebhook", map[string]any{"url": h.srv.URL, "secret_token": "no spaces"}), 400, "Bad Request: bad webhook")
}

func TestWebhookRedelivery(t *testing.T) {
	s := newTestServer(t)
	h := newHook(t)
	h.answer = func(u Update, attempt int) (int, string) {
		if attempt <= 2 {
			return 500, ""
		}
		return 200, ""
	}
	u := s.NewUser("pete")
	mustOK(t, call(t, s, "setWebhook", map[string]any{"url": h.srv.URL}))
	if _, err := u.Send("retry me"); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 20*time.Second, "1 update delivered to the webhook", func() bool { return len(h.received()) == 1 })
	wait.Until(t, 20*time.Second, "nothing pending", func() bool { return s.Pending() == 0 })
	c := s.Counters()
	if c.WebhookFailures != 2 || c.WebhookDeliveries != 3 || c.UpdatesRedelivered != 2 || c.UpdatesConfirmed != 1 {
		t.Fatalf("counters %+v", c)
	}
	info := decodeResult[WebhookInfo](t, call(t, s, "getWebhookInfo", nil))
	if info.LastErrorDate == 0 || info.LastErrorMessage != "Wrong response from the webhook: 500 Internal Server Error" {
		t.Fatalf("info %+v", info)
	}
}

func TestWebhookTimeoutRedelivers(t *testing.T) {
	s := newTestServer(t, WithWebhookTimeout(50*time.Millisecond))
	h := newHook(t)
	h.gate = make(chan struct{}) // first attempt hangs past the timeout
	u := s.NewUser("quin")
	mustOK(t, call(t, s, "setWebhook", map[string]any{"url": h.srv.URL}))
	sendN(t, u, 1)
	<-h.arrived
	wait.Until(t, 20*time.Second, "a webhook failure", func() bool { return s.Counters().WebhookFailures >= 1 })
	h.mu.Lock()
	h.gate = nil
	h.mu.Unlock()
	wait.Until(t, 20*time.Second, "nothing pending", func() bool { return s.Pending() == 0 })
	info := decodeResult[WebhookInfo](t, call(t, s, "getWebhookInfo", nil))
	if info.LastErrorMessage != "Read timeout expired" {
		t.Fatalf("info %+v", info)
	}
}

func TestWebhookOneInFlightPerChatAndMaxConnections(t *testing.T) {
	s := newTestServer(t)
	h := newHook(t)
	gate := make(chan struct{})
	h.gate = gate
	users := make([]*SimUser, 6)
	for i := range users {
		users[i] = s.NewUser("u")
		sendN(t, users[i], 3) // 3 updates per chat
	}
	mustOK(t, call(t, s, "setWebhook", map[string]any{"url": h.srv.URL, "max_connections": 4}))
	for i := 0; i < 4; i++ {
		<-h.arrived
	}
	// Four requests wait at the gate; the emulator must not open a fifth.
	h.mu.Lock()
	if h.inflight != 4 {
		t.Fatalf("in flight %d, want 4", h.inflight)
	}
	h.mu.Unlock()
	close(gate)
	wait.Until(t, 20*time.Second, "18 updates delivered to the webhook", func() bool { return len(h.received()) == 18 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.maxIn > 4 || h.overlap {
		t.Fatalf("max in flight %d (limit 4), per-chat overlap %v", h.maxIn, h.overlap)
	}
	// Per chat, updates arrived in update_id order.
	last := map[int64]int64{}
	for _, up := range h.got {
		c := chatOf(up)
		if up.UpdateID <= last[c] {
			t.Fatalf("chat %d: update %d after %d", c, up.UpdateID, last[c])
		}
		last[c] = up.UpdateID
	}
}

func TestWebhookAnswerWithMethodAndDelete(t *testing.T) {
	s := newTestServer(t)
	h := newHook(t)
	u := s.NewUser("rita")
	h.answer = func(up Update, _ int) (int, string) {
		b, _ := json.Marshal(map[string]any{"method": "sendMessage", "chat_id": up.Message.Chat.ID, "text": "pong: " + up.Message.Text})
		return 200, string(b)
	}
	mustOK(t, call(t, s, "setWebhook", map[string]any{"url": h.srv.URL}))
	if _, err := u.Send("ping"); err != nil {
		t.Fatal(err)
	}
	reply, err := u.WaitReply(testCtx(t))
	if err != nil || reply.Text != "pong: ping" {
		t.Fatalf("reply %+v %v", reply, err)
	}
	// Switch back to polling: updates not yet delivered are returned by getUpdates.
	h.mu.Lock()
	h.answer = func(Update, int) (int, string) { return 503, "" }
	h.mu.Unlock()
	sendN(t, u, 1)
	wait.Until(t, 20*time.Second, "a webhook failure", func() bool { return s.Counters().WebhookFailures >= 1 })
	mustOK(t, call(t, s, "deleteWebhook", nil))
	got := getUpdates(t, s, nil)
	if len(got) != 1 || got[0].UpdateID != 2 {
		t.Fatalf("after deleteWebhook: %+v", got)
	}
	// drop_pending_updates forgets them.
	sendN(t, u, 3)
	mustOK(t, call(t, s, "deleteWebhook", map[string]any{"drop_pending_updates": true}))
	if got := getUpdates(t, s, nil); len(got) != 0 {
		t.Fatalf("after drop: %v", updateIDs(got))
	}
}

func TestWebhookReplacedConcurrently(t *testing.T) {
	s := newTestServer(t)
	hooks := []*hook{newHook(t), newHook(t), newHook(t)}
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mustOK(t, call(t, s, "setWebhook", map[string]any{"url": hooks[i%3].srv.URL}))
		}()
	}
	wg.Wait()
	info := decodeResult[WebhookInfo](t, call(t, s, "getWebhookInfo", nil))
	sendN(t, s.NewUser("xavier"), 5)
	wait.Until(t, 20*time.Second, "nothing pending", func() bool { return s.Pending() == 0 })
	// Exactly one webhook is active and got all five updates.
	got := 0
	for _, h := range hooks {
		if h.srv.URL == info.URL {
			got = len(h.received())
		} else if n := len(h.received()); n != 0 {
			t.Fatalf("replaced webhook got %d updates", n)
		}
	}
	if got != 5 {
		t.Fatalf("active webhook got %d updates, want 5", got)
	}
}
