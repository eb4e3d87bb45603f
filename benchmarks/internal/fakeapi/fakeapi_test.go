package fakeapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testToken = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"

// newServer starts a fake closed when the test ends.
func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the fake Bot API server needs Linux")
	}
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client calls the fake over real HTTP with its own keep-alive pool,
// closed when the test ends.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, s *Server) *client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: s.URL() + "/bot" + testToken + "/", hc: &http.Client{Transport: tr}}
}

// answer is a Bot API answer.
type answer struct {
	Status      int             `json:"-"`
	OK          bool            `json:"ok"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Result      json.RawMessage `json:"result"`
}

// updateIDs decodes a getUpdates result (and checks it is valid JSON).
func (a answer) updateIDs(t *testing.T) []int64 {
	t.Helper()
	var us []struct {
		UpdateID int64 `json:"update_id"`
		Message  struct {
			Chat struct {
				ID int64 `json:"id"`
			} `json:"chat"`
			Text string `json:"text"`
		} `json:"message"`
	}
	if err := json.Unmarshal(a.Result, &us); err != nil {
		t.Fatalf("getUpdates result %s: %v", a.Result, err)
	}
	ids := []int64{}
	for _, u := range us {
		ids = append(ids, u.UpdateID)
	}
	return ids
}

// do sends method with a body of the given content type ("" for GET with
// query) and decodes the answer.
func (c *client) do(ctx context.Context, method, query, ctype, body string) (answer, error) {
	verb, rd := http.MethodGet, io.Reader(nil)
	if ctype != "" {
		verb, rd = http.MethodPost, strings.NewReader(body)
	}
	u := c.base + method
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, verb, u, rd)
	if err != nil {
		return answer{}, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return answer{}, fmt.Errorf("%s: status %d: %w", method, resp.StatusCode, err)
	}
	a.Status = resp.StatusCode
	return a, nil
}

func (c *client) call(method, query, ctype, body string) answer {
	c.t.Helper()
	a, err := c.do(c.t.Context(), method, query, ctype, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

// multipartBody encodes fields as multipart/form-data.
func multipartBody(t *testing.T, fields ...string) (ctype, body string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for i := 0; i < len(fields); i += 2 {
		if err := w.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.String()
}

func ids(from, to int64) []int64 {
	var out []int64
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

// TestGetUpdates checks the getUpdates semantics, call by call, in every
// way the libraries send parameters.
func TestGetUpdates(t *testing.T) {
	const form, jsonCT = "application/x-www-form-urlencoded", "application/json"
	type step struct {
		query, ctype, body string
		want               []int64 // update_ids answered
	}
	mp := func(fields ...string) step {
		ctype, body := multipartBody(t, fields...)
		return step{ctype: ctype, body: body}
	}
	withWant := func(s step, want []int64) step { s.want = want; return s }
	for _, tc := range []struct {
		name     string
		released int
		steps    []step
		// Stats after the steps.
		delivered, redelivered, confirmed int64
	}{
		{"the oldest first, up to limit", 5, []step{
			{query: "limit=2", want: ids(1, 2)},
		}, 2, 0, 0},
		{"unconfirmed ones again, counted", 5, []step{
			{query: "limit=3", want: ids(1, 3)},
			{query: "limit=3", want: ids(1, 3)},
		}, 3, 3, 0},
		{"offset confirms everything below it", 5, []step{
			{query: "", want: ids(1, 5)},
			{query: "offset=4", want: ids(4, 5)},
			{query: "offset=6", want: []int64{}},
		}, 5, 2, 5},
		{"an offset beyond the queue confirms what is there", 3, []step{
			{query: "offset=100", want: []int64{}},
		}, 0, 0, 3},
		{"a negative offset keeps the last -offset", 5, []step{
			{query: "offset=-2", want: ids(4, 5)},
		}, 2, 0, 3},
		{"limit defaults to 100 and is clamped to 1–100", 150, []step{
			{query: "", want: ids(1, 100)},
			{query: "limit=0", want: ids(1, 1)},
			{query: "limit=1000&offset=2", want: ids(2, 101)},
		}, 101, 100, 1},
		{"none pending, timeout 0: empty at once", 0, []step{
			{query: "timeout=0", want: []int64{}},
		}, 0, 0, 0},
		{"JSON body, numbers and strings", 5, []step{
			{ctype: jsonCT, body: `{"offset":2,"limit":2,"timeout":0}`, want: ids(2, 3)},
			{ctype: jsonCT, body: `{"offset": "3", "limit": "1", "allowed_updates":"null"}`, want: ids(3, 3)},
		}, 2, 1, 2},
		{"form body", 5, []step{
			{ctype: form, body: "offset=2&limit=2&timeout=0&allowed_updates=null", want: ids(2, 3)},
		}, 2, 0, 1},
		{"multipart body", 5, []step{
			withWant(mp("offset", "3", "limit", "1", "timeout", "0"), ids(3, 3)),
		}, 1, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, Config{Updates: 200, Chats: 7, Released: tc.released})
			c := newClient(t, s)
			for i, st := range tc.steps {
				a := c.call("getUpdates", st.query, st.ctype, st.body)
				if a.Status != 200 || !a.OK {
					t.Fatalf("step %d: %d %s", i, a.Status, a.Description)
				}
				if got := a.updateIDs(t); !slices.Equal(got, st.want) {
					t.Fatalf("step %d: update_ids %v, want %v", i, got, st.want)
				}
			}
			st := s.Stats()
			if st.Delivered != tc.delivered || st.Redelivered != tc.redelivered || st.Confirmed != tc.confirmed {
				t.Errorf("delivered/redelivered/confirmed %d/%d/%d, want %d/%d/%d",
					st.Delivered, st.Redelivered, st.Confirmed, tc.delivered, tc.redelivered, tc.confirmed)
			}
			if st.GetUpdates != int64(len(tc.steps)) || st.BadRequests != 0 || st.Conflicts != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestUpdatesAreTelegramShaped decodes a batch fully and checks chats and
// texts.
func TestUpdatesAreTelegramShaped(t *testing.T) {
	s := newServer(t, Config{Updates: 10, Chats: 3, FirstChatID: 500, FirstUpdateID: 1000, Released: 10})
	a := newClient(t, s).call("getUpdates", "", "", "")
	var us []struct {
		UpdateID int64 `json:"update_id"`
		Message  struct {
			MessageID int64 `json:"message_id"`
			Chat      struct {
				ID   int64  `json:"id"`
				Type string `json:"type"`
			} `json:"chat"`
			From struct {
				ID int64 `json:"id"`
			} `json:"from"`
			Text string `json:"text"`
		} `json:"message"`
	}
	if err := json.Unmarshal(a.Result, &us); err != nil || len(us) != 10 {
		t.Fatalf("%d updates, %v: %s", len(us), err, a.Result)
	}
	for i, u := range us {
		m := u.Message
		if u.UpdateID != 1000+int64(i) || m.Chat.ID != 500+int64(i%3) || m.From.ID != m.Chat.ID || m.Chat.Type != "private" ||
			m.Text != fmt.Sprintf("hello %d", i) || s.UpdateID(i) != u.UpdateID || s.ChatID(i) != m.Chat.ID {
			t.Errorf("update %d: %+v", i, u)
		}
	}
}

// waitStats waits until cond holds or fails the test after 10 s.
func waitStats(t *testing.T, s *Server, what string, cond func(Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v (stats %+v)", what, err, s.Stats())
	}
}

// poll runs a getUpdates in the background.
func (c *client) poll(ctx context.Context, query string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		a, err := c.do(ctx, "getUpdates", query, "", "")
		if err != nil {
			a = answer{Status: -1, Description: err.Error()}
		}
		ch <- a
	}()
	return ch
}

// TestLongPoll checks that a waiting getUpdates returns when updates are
// released, that a second one ends the first with 409, and that one whose
// client went away stops waiting.
func TestLongPoll(t *testing.T) {
	t.Run("returns at once on a release", func(t *testing.T) {
		s := newServer(t, Config{Updates: 10, Chats: 2})
		c := newClient(t, s)
		got := c.poll(t.Context(), "timeout=50")
		waitStats(t, s, "the poll to wait", func(st Stats) bool { return st.PollWaiting })
		s.Release(3)
		a := <-got
		if a.Status != 200 || !slices.Equal(a.updateIDs(t), ids(1, 3)) {
			t.Fatalf("%d %s %s", a.Status, a.Description, a.Result)
		}
		if st := s.Stats(); st.PollWaiting || st.Delivered != 3 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("a second call ends the first with 409", func(t *testing.T) {
		s := newServer(t, Config{Updates: 10, Chats: 2})
		first := newClient(t, s).poll(t.Context(), "timeout=50")
		waitStats(t, s, "the poll to wait", func(st Stats) bool { return st.PollWaiting })
		second := newClient(t, s).call("getUpdates", "timeout=0", "", "")
		a := <-first
		if a.Status != 409 || a.ErrorCode != 409 || a.Description != descOtherPoller {
			t.Errorf("first: %d %d %q", a.Status, a.ErrorCode, a.Description)
		}
		if second.Status != 200 {
			t.Errorf("second: %d %s", second.Status, second.Description)
		}
		if st := s.Stats(); st.Conflicts != 1 {
			t.Errorf("%d conflicts, want 1", st.Conflicts)
		}
	})
	t.Run("the client going away ends the wait", func(t *testing.T) {
		s := newServer(t, Config{Updates: 10, Chats: 2})
		ctx, cancel := context.WithCancel(t.Context())
		got := newClient(t, s).poll(ctx, "timeout=50")
		waitStats(t, s, "the poll to wait", func(st Stats) bool { return st.PollWaiting })
		cancel()
		<-got
		waitStats(t, s, "the poll to end", func(st Stats) bool { return !st.PollWaiting })
		s.Release(1)
		if st := s.Stats(); st.Delivered != 0 {
			t.Errorf("%d delivered to a client that left", st.Delivered)
		}
	})
	t.Run("a next request on the same connection is served", func(t *testing.T) {
		// One keep-alive connection: the byte read while the poll waited
		// must not be lost.
		s := newServer(t, Config{Updates: 10, Chats: 2})
		c := newClient(t, s)
		c.hc.Transport.(*http.Transport).MaxConnsPerHost = 1
		got := c.poll(t.Context(), "timeout=50")
		waitStats(t, s, "the poll to wait", func(st Stats) bool { return st.PollWaiting })
		s.Release(1)
		if a := <-got; a.Status != 200 {
			t.Fatal(a.Description)
		}
		if a := c.call("getMe", "", "", ""); a.Status != 200 {
			t.Fatalf("getMe after a poll: %d %s", a.Status, a.Description)
		}
		if st := s.Stats(); st.ConnsAccepted != 1 {
			t.Errorf("%d connections, want 1", st.ConnsAccepted)
		}
	})
}

// TestSendMessage checks that replies are counted per chat whichever way
// chat_id is sent.
func TestSendMessage(t *testing.T) {
	mpType, mpBody := multipartBody(t, "chat_id", "100001", "text", "pong")
	for _, tc := range []struct {
		name, query, ctype, body string
		chat                     int
	}{
		{"JSON", "", "application/json", `{"chat_id":100000,"text":"pong"}`, 0},
		{"JSON string id", "", "application/json", `{"text":"pong","chat_id":"100002"}`, 2},
		{"form", "", "application/x-www-form-urlencoded", "chat_id=100001&text=pong&entities=null", 1},
		{"multipart", "", mpType, mpBody, 1},
		{"query", "chat_id=100002&text=pong", "", "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, Config{Updates: 3, Chats: 3, Released: 3})
			a := newClient(t, s).call("sendMessage", tc.query, tc.ctype, tc.body)
			var m struct {
				MessageID int64 `json:"message_id"`
				Text      string
			}
			if a.Status != 200 || json.Unmarshal(a.Result, &m) != nil || m.MessageID != 1 {
				t.Fatalf("%d %s %s", a.Status, a.Description, a.Result)
			}
			st := s.Stats()
			if st.Replies != 1 || st.SendMessage != 1 || st.ChatsShort != 2 || st.ChatsOver != 0 {
				t.Errorf("stats %+v", st)
			}
			if got := s.replies[tc.chat].Load(); got != 1 {
				t.Errorf("chat %d has %d replies, want 1", tc.chat, got)
			}
		})
	}
	t.Run("every chat answered", func(t *testing.T) {
		s := newServer(t, Config{Updates: 6, Chats: 3, Released: 6})
		c := newClient(t, s)
		for i := range 6 {
			c.call("sendMessage", "", "application/json", fmt.Sprintf(`{"chat_id":%d,"text":"pong"}`, s.ChatID(i)))
		}
		if st := s.Stats(); st.Replies != 6 || st.ChatsShort != 0 || st.ChatsOver != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestBadRequests checks that malformed requests get a clear 4xx answer.
func TestBadRequests(t *testing.T) {
	for _, tc := range []struct {
		name, method, query, ctype, body string
		code                             int
		desc                             string
	}{
		{"no chat_id", "sendMessage", "", "application/json", `{"text":"pong"}`, 400, "Bad Request: chat_id is empty"},
		{"chat_id not a number", "sendMessage", "", "application/json", `{"chat_id":"@x","text":"pong"}`, 400, `Bad Request: parameter "chat_id" is not an integer`},
		{"unknown chat", "sendMessage", "", "application/json", `{"chat_id":5,"text":"pong"}`, 400, "Bad Request: chat not found"},
		{"no text", "sendMessage", "", "application/x-www-form-urlencoded", `chat_id=100000`, 400, "Bad Request: message text is empty"},
		{"offset not a number", "getUpdates", "offset=abc", "", "", 400, `Bad Request: parameter "offset" is not an integer`},
		{"unknown method", "sendSticker", "", "", "", 404, "Not Found: method sendSticker is not implemented by fakeapi"},
		{"https webhook", "setWebhook", "url=https://example.com/hook", "", "", 400, "Bad Request: bad webhook: fakeapi delivers to http://host:port/path URLs only"},
		{"bad secret", "setWebhook", "url=http://127.0.0.1:1/hook&secret_token=a%20b", "", "", 400, "Bad Request: bad webhook: secret token contains unallowed characters"},
		{"webhook host not an IP", "setWebhook", "url=http://localhost:1/hook", "", "", 400, "Bad Request: bad webhook: fakeapi resolves no names, the host must be an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, Config{Updates: 1, Chats: 1, Released: 1})
			a := newClient(t, s).call(tc.method, tc.query, tc.ctype, tc.body)
			if a.Status != tc.code || a.ErrorCode != tc.code || a.OK || a.Description != tc.desc {
				t.Errorf("%d %d %q, want %d %q", a.Status, a.ErrorCode, a.Description, tc.code, tc.desc)
			}
			if st := s.Stats(); st.BadRequests != 1 || st.Replies != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// rawExchange writes req on a fresh connection and reads one answer,
// after any 1xx (continued tells whether there was one).
func rawExchange(t *testing.T, s *Server, req string) (resp *http.Response, body string, continued bool) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err = http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode < 200 { // 100 Continue
		continued = true
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b), continued
}

// TestHTTP checks the HTTP layer: malformed requests get a clear 4xx and
// the connection closed; chunked bodies, Expect: 100-continue and a wrong
// token are handled.
func TestHTTP(t *testing.T) {
	p := "/bot" + testToken + "/"
	for _, tc := range []struct {
		name, req string
		code      int
		desc      string
		close     bool
		continued bool
	}{
		{"not HTTP", "HELLO\r\n\r\n", 400, "malformed HTTP request: bad request line", true, false},
		{"bad Content-Length", "POST " + p + "getMe HTTP/1.1\r\nHost: x\r\nContent-Length: x1\r\n\r\n", 400, "malformed HTTP request: bad Content-Length", true, false},
		{"header without colon", "GET " + p + "getMe HTTP/1.1\r\nHost x\r\n\r\n", 400, "malformed HTTP request: header line without a name and colon", true, false},
		{"body too large", "POST " + p + "sendMessage HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", 413, "request body too large", true, false},
		{"wrong token", "GET /bot1:x/getMe HTTP/1.1\r\nHost: x\r\n\r\n", 401, "Unauthorized", false, false},
		{"not a bot path", "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n", 404, "Not Found", false, false},
		{"PUT", "PUT " + p + "getMe HTTP/1.1\r\nHost: x\r\n\r\n", 405, "Method Not Allowed: use GET or POST", false, false},
		{"chunked, body sent with the head", "POST " + p + "sendMessage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
			"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"10\r\n{\"chat_id\":10000\r\n10\r\n0,\"text\":\"pong\"}\r\n0\r\n\r\n", 200, "", false, false},
		{"HTTP/1.0", "GET " + p + "getMe HTTP/1.0\r\n\r\n", 200, "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, Config{Updates: 1, Chats: 1, Released: 1, MaxBody: 1000})
			resp, body, continued := rawExchange(t, s, tc.req)
			var a answer
			if err := json.Unmarshal([]byte(body), &a); err != nil {
				t.Fatalf("%d %q: %v", resp.StatusCode, body, err)
			}
			if resp.StatusCode != tc.code || (tc.code != 200 && a.Description != tc.desc) || resp.Close != tc.close || continued != tc.continued {
				t.Errorf("%d %q close %v 100-continue %v, want %d %q close %v 100-continue %v",
					resp.StatusCode, a.Description, resp.Close, continued, tc.code, tc.desc, tc.close, tc.continued)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
		})
	}
}

// TestGetMe checks the fixed bot.
func TestGetMe(t *testing.T) {
	s := newServer(t, Config{Updates: 1})
	var me struct {
		ID    int64 `json:"id"`
		IsBot bool  `json:"is_bot"`
	}
	a := newClient(t, s).call("GETME", "", "", "")
	if err := json.Unmarshal(a.Result, &me); err != nil || me.ID != 123456 || !me.IsBot {
		t.Fatalf("%s: %v", a.Result, err)
	}
}

// hookRecorder is a webhook receiver that checks the secret, records the
// update_ids per chat, fails chosen updates once and checks that a chat
// never has two updates in flight.
type hookRecorder struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	byChat map[int64][]int64
	busy   map[int64]bool
	failed map[int64]bool
	fail   map[int64]bool // update_ids answered 500 the first time
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Telegram-Bot-Api-Secret-Token") != h.secret {
		h.t.Errorf("secret %q", r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
	}
	var u struct {
		UpdateID int64 `json:"update_id"`
		Message  struct {
			Chat struct{ ID int64 } `json:"chat"`
		} `json:"message"`
	}
	if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
		h.t.Errorf("update: %v", err)
	}
	chat := u.Message.Chat.ID
	h.mu.Lock()
	if h.busy[chat] {
		h.t.Errorf("chat %d has two updates in flight", chat)
	}
	h.busy[chat] = true
	fail := h.fail[u.UpdateID] && !h.failed[u.UpdateID]
	if fail {
		h.failed[u.UpdateID] = true
	} else {
		h.byChat[chat] = append(h.byChat[chat], u.UpdateID)
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.busy[chat] = false
		h.mu.Unlock()
	}()
	if fail {
		http.Error(w, "try again", http.StatusInternalServerError)
	}
}

// TestWebhook checks delivery: every update once in order per chat, one
// in flight per chat, the secret header, a failed delivery sent again and
// counted, getUpdates refused while the webhook is set.
func TestWebhook(t *testing.T) {
	const n, chats = 300, 7
	s := newServer(t, Config{Updates: n, Chats: chats, Released: 100, WebhookConns: 4})
	rec := &hookRecorder{t: t, secret: "s3cr3t", byChat: map[int64][]int64{}, busy: map[int64]bool{}, failed: map[int64]bool{},
		fail: map[int64]bool{5: true, 150: true}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rec}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	c := newClient(t, s)
	hook := url.QueryEscape("http://" + ln.Addr().String() + "/hook?x=1")
	if a := c.call("setWebhook", "", "application/x-www-form-urlencoded", "url="+hook+"&secret_token=s3cr3t"); a.Status != 200 {
		t.Fatalf("setWebhook: %d %s", a.Status, a.Description)
	}
	if a := c.call("getUpdates", "", "", ""); a.Status != 409 || a.Description != descWebhookActive {
		t.Errorf("getUpdates with a webhook: %d %q", a.Status, a.Description)
	}
	waitStats(t, s, "100 confirmed", func(st Stats) bool { return st.Confirmed == 100 })
	s.Release(n)
	waitStats(t, s, "all confirmed", func(st Stats) bool { return st.Confirmed == n })
	var info struct {
		URL     string `json:"url"`
		Pending int64  `json:"pending_update_count"`
	}
	if a := c.call("getWebhookInfo", "", "", ""); json.Unmarshal(a.Result, &info) != nil || info.Pending != 0 || !strings.HasSuffix(info.URL, "/hook?x=1") {
		t.Errorf("getWebhookInfo: %s", a.Result)
	}
	if a := c.call("deleteWebhook", "", "", ""); a.Status != 200 {
		t.Fatalf("deleteWebhook: %d", a.Status)
	}
	st := s.Stats()
	if st.Delivered != n || st.Redelivered != 2 || st.HookFailures != 2 || st.HookPosts != n+2 || st.Webhook || st.HookConns > 4 {
		t.Errorf("stats %+v", st)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for chat := range int64(chats) {
		var want []int64
		for i := range n {
			if s.ChatID(i) == s.cfg.FirstChatID+chat {
				want = append(want, s.UpdateID(i))
			}
		}
		if got := rec.byChat[s.cfg.FirstChatID+chat]; !slices.Equal(got, want) {
			t.Errorf("chat %d: got %v, want %v", chat, got, want)
		}
	}
	if a := c.call("getUpdates", "", "", ""); a.Status != 200 || len(a.updateIDs(t)) != 0 {
		t.Errorf("getUpdates after deleteWebhook: %d %s", a.Status, a.Result)
	}
}

// TestWebhookUnreachable checks that deliveries to a port nobody listens
// on fail, are retried after a backoff and counted, until deleteWebhook.
func TestWebhookUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s := newServer(t, Config{Updates: 2, Chats: 2, Released: 2, WebhookConns: 1})
	c := newClient(t, s)
	if a := c.call("setWebhook", "url="+url.QueryEscape("http://"+addr+"/hook"), "", ""); a.Status != 200 {
		t.Fatalf("setWebhook: %d %s", a.Status, a.Description)
	}
	waitStats(t, s, "two failed attempts", func(st Stats) bool { return st.HookFailures >= 2 })
	if a := c.call("deleteWebhook", "", "", ""); a.Status != 200 {
		t.Fatalf("deleteWebhook: %d", a.Status)
	}
	if st := s.Stats(); st.Redelivered < 1 || st.Confirmed != 0 || st.Pending != 2 || st.HookPosts != 0 || st.Webhook {
		t.Errorf("stats %+v", st)
	}
}

// TestNew checks the configuration errors.
func TestNew(t *testing.T) {
	for _, cfg := range []Config{
		{Token: "", Updates: 1},
		{Token: "1:a/b", Updates: 1},
		{Token: testToken, Updates: 0},
		{Token: testToken, Updates: 1, Released: 2},
		{Token: testToken, Updates: 1, Chats: -1},
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestParams checks the byte search on edge cases.
func TestParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  request
		key  string
		want string
		ok   bool
	}{
		{"json key inside a value is skipped", request{kind: bodyJSON, body: []byte(`{"text":"say \"chat_id\": 5","chat_id":7}`)}, "chat_id", "7", true},
		{"json prefix of a longer key", request{kind: bodyJSON, body: []byte(`{"chat_id_x":1,"chat_id":2}`)}, "chat_id", "2", true},
		{"json spaces", request{kind: bodyJSON, body: []byte("{ \"offset\" :\n 12 }")}, "offset", "12", true},
		{"json absent", request{kind: bodyJSON, body: []byte(`{"text":"chat_id"}`)}, "chat_id", "", false},
		{"form prefix", request{kind: bodyForm, body: []byte("chat_idx=1&chat_id=2")}, "chat_id", "2", true},
		{"query before body", request{query: []byte("offset=1"), kind: bodyForm, body: []byte("offset=2")}, "offset", "1", true},
		{"multipart prefix", request{kind: bodyMultipart, boundary: []byte("b"), body: []byte("--b\r\nContent-Disposition: form-data; name=\"chat_idx\"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n2\r\n--b--\r\n")}, "chat_id", "2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := tc.req.param(tc.key)
			if ok != tc.ok || string(v.b) != tc.want {
				t.Errorf("%q %v, want %q %v", v.b, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestPipelinedSlowReader sends 400 getUpdates on one connection before
// reading anything: their answers (8 MB) overflow the socket buffers, so
// the server writes part of an answer and waits for EPOLLOUT many times.
// Then every answer is read: whole (its Content-Length, its first and last
// update) and in order.
func TestPipelinedSlowReader(t *testing.T) {
	const calls = 400
	s := newServer(t, Config{Updates: 600, Chats: 50, Released: 600})
	nc, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var reqs strings.Builder
	for i := range calls {
		fmt.Fprintf(&reqs, "GET /bot%s/getUpdates?offset=%d HTTP/1.1\r\nHost: x\r\n\r\n", testToken, 1+i)
	}
	if _, err := io.WriteString(nc, reqs.String()); err != nil { // 36 KB: fits in the socket buffers
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	for i := range calls {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || int64(len(body)) != resp.ContentLength {
			t.Fatalf("answer %d: %d of %d bytes: %v", i, len(body), resp.ContentLength, err)
		}
		first := fmt.Sprintf(`{"ok":true,"result":[%s,`, s.Update(i))
		last := fmt.Sprintf(`,%s]}`, s.Update(i+99))
		if !bytes.HasPrefix(body, []byte(first)) || !bytes.HasSuffix(body, []byte(last)) {
			t.Fatalf("answer %d: %.80s…%.80s", i, body, body[max(0, len(body)-80):])
		}
	}
}

// TestExpectContinue sends a head with Expect: 100-continue, waits for
// the 100, then sends the body.
func TestExpectContinue(t *testing.T) {
	s := newServer(t, Config{Updates: 1, Chats: 1, Released: 1})
	nc, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	body := `{"chat_id":100000,"text":"pong"}`
	fmt.Fprintf(nc, "POST /bot%s/sendMessage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", testToken, len(body))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 100 {
		t.Fatalf("before the body: %v %v", resp, err)
	}
	io.WriteString(nc, body)
	if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the body: %v %v", resp, err)
	}
	if st := s.Stats(); st.Replies != 1 {
		t.Errorf("%d replies", st.Replies)
	}
}

// TestCloseEndsAWaitingPoll closes the server while a getUpdates waits:
// the client sees its connection end and Close returns.
func TestCloseEndsAWaitingPoll(t *testing.T) {
	s, err := New(Config{Token: testToken, Updates: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := newClient(t, s).poll(t.Context(), "timeout=50")
	waitStats(t, s, "the poll to wait", func(st Stats) bool { return st.PollWaiting })
	s.Close()
	if a := <-got; a.Status != -1 {
		t.Errorf("poll answered %d %s after Close", a.Status, a.Description)
	}
	if err := s.Wait(t.Context(), func(Stats) bool { return false }); err != ErrClosed {
		t.Errorf("Wait after Close: %v", err)
	}
}

// TestOneP runs a long poll with GOMAXPROCS 1, where the loop waits in an
// ordinary system call instead of a raw one.
func TestOneP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := newServer(t, Config{Updates: 3, Chats: 3})
	got := newClient(t, s).poll(t.Context(), "timeout=50")
	waitStats(t, s, "the poll to wait", func(st Stats) bool { return st.PollWaiting })
	s.Release(3)
	if a := <-got; a.Status != 200 || !slices.Equal(a.updateIDs(t), ids(1, 3)) {
		t.Fatalf("%d %s %s", a.Status, a.Description, a.Result)
	}
}
