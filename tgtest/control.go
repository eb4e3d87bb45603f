package tgtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// controlPrefix is the path of the control API; no Bot API method can be
// reached under it (methods live under /bot<token>/).
const controlPrefix = "/_tgtest/"

// maxControlBody bounds a control API request body (files are base64 in it).
const maxControlBody = 64 << 20

// maxControlWait bounds how long a control API call waits (timeout=…).
const maxControlWait = 5 * time.Minute

// controlEndpoint is one entry of GET /_tgtest/; its keys are snake_case
// like the rest of the control API ("body" is "" when the call takes none).
type controlEndpoint struct {
	Route  string `json:"route"`
	Body   string `json:"body"`
	Result string `json:"result"`
}

// controlEndpoints documents the control API; GET /_tgtest/ returns it.
var controlEndpoints = []controlEndpoint{
	{"GET /_tgtest/", "", "this list"},
	{"POST /_tgtest/users", `{"name":"alice"}`, "User (its id is also its private chat id)"},
	{"POST /_tgtest/groups", `{"title":"team"}`, "Chat"},
	{"POST /_tgtest/users/{id}/send", `{"text":"hi","chat_id":0}`, "Message (chat_id: a group, 0 or absent: the private chat)"},
	{"POST /_tgtest/users/{id}/command", `{"command":"start","args":"x","chat_id":0}`, "Message"},
	{"POST /_tgtest/users/{id}/photo", `{"file":"<base64>","caption":""}`, "Message"},
	{"POST /_tgtest/users/{id}/document", `{"name":"a.txt","file":"<base64>"}`, "Message"},
	{"POST /_tgtest/users/{id}/press", `{"chat_id":1,"message_id":2,"data":"vote:1"}`, `{"callback_query_id":"…"}`},
	{"POST /_tgtest/users/{id}/inline", `{"query":"cats"}`, `{"inline_query_id":"…"}`},
	{"POST /_tgtest/users/{id}/join", `{"chat_id":-100…}`, "true"},
	{"POST /_tgtest/users/{id}/leave", `{"chat_id":-100…}`, "true"},
	{"POST /_tgtest/users/{id}/block", "", "true (bot blocked; /unblock undoes it)"},
	{"POST /_tgtest/users/{id}/album", `{"chat_id":0,"items":[{"photo":"<base64>","caption":"…"},{"name":"a.txt","file":"<base64>"}]}`, "[]Message (one update per part, one media_group_id)"},
	{"POST /_tgtest/users/{id}/webapp", `{"extra":{"start_param":"x"}}`, `{"init_data":"…"} signed with the bot's token`},
	{"POST /_tgtest/users/{id}/login", `{"extra":{}}`, "Login Widget fields with hash"},
	{"POST /_tgtest/users/{id}/webapp_data", `{"button_text":"Order","data":"…"}`, "Message with web_app_data"},
	{"POST /_tgtest/users/{id}/precheckout", `{"currency":"EUR","total":1250,"payload":"order-1"}`, `{"pre_checkout_query_id":…}`},
	{"POST /_tgtest/users/{id}/business", "", `{"business_connection_id":…} (the user connects the bot to their business account)`},
	{"POST /_tgtest/business/{id}/send", `{"user_id":…,"text":"hi"}`, "Message (a customer writes to the business account)"},
	{"GET /_tgtest/business/{id}/messages?user_id=…&n=N&timeout=5s", "", "[]Message the bot sent on the account's behalf to that customer"},
	{"POST /_tgtest/groups/{id}/status", `{"by":…,"user_id":…,"status":"administrator"}`, "true (user_id 0: the bot's own status)"},
	{"GET /_tgtest/precheckout/{id}?timeout=5s", "", "PreCheckoutAnswer (waits for it)"},
	{"POST /_tgtest/updates", "raw Update JSON", `{"update_id":N}`},
	{"GET /_tgtest/chats/{id}/messages?n=N&timeout=5s", "", "[]Message the bot sent (with n: wait until it sent n, return the first n)"},
	{"GET /_tgtest/chats/{id}/history", "", "[]Message of users and bot"},
	{"GET /_tgtest/callbacks/{id}?timeout=5s", "", "CallbackAnswer (waits for it)"},
	{"GET /_tgtest/inline/{id}?timeout=5s", "", "InlineAnswer (waits for it)"},
	{"GET /_tgtest/counters", "", "Counters"},
	{"GET /_tgtest/commands", "", "[]BotCommand (default scope)"},
	{"PUT /_tgtest/flood", `{"enabled":true,"limits":{"per_second":30,"per_chat":1,"chat_burst":3,"group_per_minute":20}}`, "true"},
	{"POST /_tgtest/faults", `{"method":"sendMessage","probability":0.1,"fault":{"kind":"502"}} or {"method":"getUpdates","script":[{"kind":"hang","duration":"2s"}]}`, "true"},
	{"DELETE /_tgtest/faults", "", "true"},
	{"POST /_tgtest/reset", "", "true"},
}

type controlHandlerFunc func(r *http.Request) (any, error)

// errControl is a control API error answered with status code.
type errControl struct {
	code int
	err  error
}

func (e *errControl) Error() string { return e.err.Error() }
func (e *errControl) Unwrap() error { return e.err }

func ctlErr(code int, format string, args ...any) error {
	return &errControl{code: code, err: fmt.Errorf(format, args...)}
}

func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h controlHandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serveControl(w, r, h) })
	}
	route("GET /_tgtest/{$}", func(*http.Request) (any, error) { return controlEndpoints, nil })
	route("POST /_tgtest/users", s.ctlNewUser)
	route("POST /_tgtest/groups", s.ctlNewGroup)
	route("POST /_tgtest/users/{id}/{action}", s.ctlUserAction)
	route("POST /_tgtest/updates", s.ctlPush)
	route("GET /_tgtest/chats/{id}/messages", s.ctlMessages)
	route("GET /_tgtest/chats/{id}/history", func(r *http.Request) (any, error) {
		id, err := pathID(r)
		if err != nil {
			return nil, err
		}
		return nonNil(s.History(id)), nil
	})
	route("GET /_tgtest/callbacks/{id}", func(r *http.Request) (any, error) {
		ctx, cancel := waitCtx(r)
		defer cancel()
		return s.WaitCallbackAnswer(ctx, r.PathValue("id"))
	})
	route("GET /_tgtest/inline/{id}", func(r *http.Request) (any, error) {
		ctx, cancel := waitCtx(r)
		defer cancel()
		return s.WaitInlineAnswer(ctx, r.PathValue("id"))
	})
	route("GET /_tgtest/precheckout/{id}", func(r *http.Request) (any, error) {
		ctx, cancel := waitCtx(r)
		defer cancel()
		return s.WaitPreCheckoutAnswer(ctx, r.PathValue("id"))
	})
	route("POST /_tgtest/business/{id}/send", s.ctlBusinessSend)
	route("GET /_tgtest/business/{id}/messages", s.ctlBusinessMessages)
	route("POST /_tgtest/groups/{id}/status", s.ctlGroupStatus)
	route("GET /_tgtest/counters", func(*http.Request) (any, error) { return s.Counters(), nil })
	route("GET /_tgtest/commands", func(*http.Request) (any, error) { return nonNil(s.Commands()), nil })
	route("PUT /_tgtest/flood", s.ctlFlood)
	route("POST /_tgtest/faults", s.ctlFaults)
	route("DELETE /_tgtest/faults", func(*http.Request) (any, error) { s.ClearFaults(); return true, nil })
	route("POST /_tgtest/reset", func(*http.Request) (any, error) { s.Reset(); return true, nil })
	return mux
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request, h controlHandlerFunc) {
	r.Body = http.MaxBytesReader(w, r.Body, maxControlBody)
	res, err := h(r)
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if err != nil {
		code := http.StatusBadRequest
		var ce *errControl
		switch {
		case errors.As(err, &ce):
			code = ce.code
		case errors.Is(err, context.DeadlineExceeded):
			code = http.StatusRequestTimeout
		case errors.Is(err, ErrQueueFull):
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
		enc.Encode(map[string]any{"ok": false, "error": err.Error()})
		return
	}
	enc.Encode(map[string]any{"ok": true, "result": res})
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && err != io.EOF {
		return ctlErr(http.StatusBadRequest, "tgtest: control request body: %w", err)
	}
	return nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, ctlErr(http.StatusBadRequest, "tgtest: bad id %q", r.PathValue("id"))
	}
	return id, nil
}

// waitCtx is the request's context bounded by its timeout query parameter
// (Go duration, default 10s, at most maxControlWait).
func waitCtx(r *http.Request) (context.Context, context.CancelFunc) {
	d := 10 * time.Second
	if t, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && t > 0 {
		d = min(t, maxControlWait)
	}
	return context.WithTimeout(r.Context(), d)
}

// ctlNamed serves a call whose body is {"<field>":"<non-empty>"}.
func ctlNamed(r *http.Request, field string, create func(string) any) (any, error) {
	var p map[string]string
	if err := decodeBody(r, &p); err != nil {
		return nil, err
	}
	v, ok := p[field]
	if len(p) != 1 || !ok || v == "" {
		return nil, ctlErr(http.StatusBadRequest, "tgtest: want {%q:\"…\"}", field)
	}
	return create(v), nil
}

func (s *Server) ctlNewUser(r *http.Request) (any, error) {
	return ctlNamed(r, "name", func(v string) any { return s.NewUser(v).User() })
}

func (s *Server) ctlNewGroup(r *http.Request) (any, error) {
	return ctlNamed(r, "title", func(v string) any { return s.NewGroup(v).Chat() })
}

// simUser returns the simulated user with id.
func (s *Server) simUser(id int64) (*SimUser, error) {
	c := s.chats.get(id)
	if c != nil {
		c.mu.Lock()
		u := c.user
		c.mu.Unlock()
		if u != nil {
			return &SimUser{s: s, user: *u, chat: c}, nil
		}
	}
	return nil, ctlErr(http.StatusNotFound, "tgtest: no simulated user %d", id)
}

// simGroup returns the group with id, or nil for id 0.
func (s *Server) simGroup(id int64) (*SimGroup, error) {
	if id == 0 {
		return nil, nil
	}
	c := s.chats.get(id)
	if c == nil || !c.group {
		return nil, ctlErr(http.StatusNotFound, "tgtest: no group %d", id)
	}
	return &SimGroup{s: s, chat: c}, nil
}

type userAction struct {
	Text      string `json:"text"`
	Command   string `json:"command"`
	Args      string `json:"args"`
	ChatID    int64  `json:"chat_id"`
	MessageID int64  `json:"message_id"`
	Data      string `json:"data"`
	Name      string `json:"name"`
	Caption   string `json:"caption"`
	Query     string `json:"query"`
	File      []byte `json:"file"` // base64 in JSON

	Items      []albumItem       `json:"items"`
	Extra      map[string]string `json:"extra"`
	ButtonText string            `json:"button_text"`
	Currency   string            `json:"currency"`
	Total      int64             `json:"total"`
	Payload    string            `json:"payload"`
}

func (s *Server) ctlUserAction(r *http.Request) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	u, err := s.simUser(id)
	if err != nil {
		return nil, err
	}
	var p userAction
	if err := decodeBody(r, &p); err != nil {
		return nil, err
	}
	g, err := s.simGroup(p.ChatID)
	action := r.PathValue("action")
	if err != nil && action != "press" {
		return nil, err
	}
	switch action {
	case "send":
		return u.SendTo(g, p.Text)
	case "command":
		return u.CommandTo(g, p.Command, p.Args)
	case "photo":
		return u.SendPhoto(p.File, p.Caption)
	case "document":
		return u.SendDocument(p.Name, p.File)
	case "press":
		c := s.chats.get(p.ChatID)
		if c == nil {
			return nil, ctlErr(http.StatusNotFound, "tgtest: no chat %d", p.ChatID)
		}
		qid, err := u.Press(Message{MessageID: p.MessageID, Chat: c.chat}, p.Data)
		return map[string]string{"callback_query_id": qid}, err
	case "inline":
		qid, err := u.InlineQuery(p.Query)
		return map[string]string{"inline_query_id": qid}, err
	case "join", "leave":
		if g == nil {
			return nil, ctlErr(http.StatusBadRequest, "tgtest: chat_id of a group is required")
		}
		if action == "join" {
			return true, u.Join(g)
		}
		return true, u.Leave(g)
	case "album", "webapp", "login", "webapp_data", "precheckout", "business":
		return s.ctlUserExtra(u, g, action, &p)
	case "block":
		return true, u.Block()
	case "unblock":
		return true, u.Unblock()
	}
	return nil, ctlErr(http.StatusNotFound, "tgtest: unknown user action %q", action)
}

func (s *Server) ctlPush(r *http.Request) (any, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, ctlErr(http.StatusBadRequest, "tgtest: %w", err)
	}
	id, err := s.PushRaw(raw)
	if err != nil {
		return nil, err
	}
	return map[string]int64{"update_id": id}, nil
}

func (s *Server) ctlMessages(r *http.Request) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	nq := r.URL.Query().Get("n")
	if nq == "" {
		if s.chats.get(id) == nil {
			return nil, ctlErr(http.StatusNotFound, "tgtest: no chat %d", id)
		}
		return nonNil(s.Messages(id)), nil
	}
	n, err := strconv.Atoi(nq)
	if err != nil || n < 0 {
		return nil, ctlErr(http.StatusBadRequest, "tgtest: bad n %q", nq)
	}
	ctx, cancel := waitCtx(r)
	defer cancel()
	msgs, err := s.WaitMessages(ctx, id, n)
	return nonNil(msgs), err
}

func (s *Server) ctlFlood(r *http.Request) (any, error) {
	var p struct {
		Enabled bool        `json:"enabled"`
		Limits  FloodLimits `json:"limits"`
	}
	if err := decodeBody(r, &p); err != nil {
		return nil, err
	}
	s.SetFlood(p.Enabled, p.Limits)
	return true, nil
}

func (s *Server) ctlFaults(r *http.Request) (any, error) {
	var p struct {
		Method      string  `json:"method"`
		Probability float64 `json:"probability"`
		Fault       *Fault  `json:"fault"`
		Script      []Fault `json:"script"`
	}
	if err := decodeBody(r, &p); err != nil {
		return nil, err
	}
	if p.Fault != nil {
		if err := s.SetFaultRate(p.Method, p.Probability, *p.Fault); err != nil {
			return nil, err
		}
	}
	if len(p.Script) > 0 {
		if err := s.ScriptFaults(p.Method, p.Script...); err != nil {
			return nil, err
		}
	}
	if p.Fault == nil && len(p.Script) == 0 {
		return nil, ctlErr(http.StatusBadRequest, "tgtest: give fault (with probability) or script")
	}
	return true, nil
}

// SetFlood switches flood control on or off and sets its limits (zero
// fields take the defaults of FloodLimits). Buckets start full.
func (s *Server) SetFlood(on bool, l FloodLimits) {
	s.flood.set(on, l)
}

// ControlAPIHelp returns the control API's endpoints as text, one per
// line, for command help.
func ControlAPIHelp() string {
	var b strings.Builder
	for _, e := range controlEndpoints {
		fmt.Fprintf(&b, "  %s", e.Route)
		if e.Body != "" {
			fmt.Fprintf(&b, "  %s", e.Body)
		}
		fmt.Fprintf(&b, "  → %s\n", e.Result)
	}
	return b.String()
}
