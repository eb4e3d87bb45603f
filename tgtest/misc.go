package tgtest

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
)

// maxQueries bounds the callback and inline queries remembered for their
// answers; the oldest are forgotten first.
const maxQueries = 10_000

// CallbackAnswer is what the bot answered to a callback query.
type CallbackAnswer struct {
	Text      string `json:"text,omitempty"`
	ShowAlert bool   `json:"show_alert,omitempty"`
	URL       string `json:"url,omitempty"`
	CacheTime int    `json:"cache_time,omitempty"`
}

// InlineAnswer is what the bot answered to an inline query.
type InlineAnswer struct {
	Results    json.RawMessage `json:"results"`
	NextOffset string          `json:"next_offset,omitempty"`
	CacheTime  int             `json:"cache_time,omitempty"`
	IsPersonal bool            `json:"is_personal,omitempty"`
}

// queryKind tells the kinds of query apart: an answer must match.
type queryKind uint8

const (
	queryCallback queryKind = iota
	queryInline
	queryPreCheckout
)

type query struct {
	kind     queryKind
	answered chan struct{} // closed when answered
	cb       CallbackAnswer
	inl      InlineAnswer
	pre      PreCheckoutAnswer
}

// miscState holds queries waiting for answers, the command menus and an
// id counter.
type miscState struct {
	mu       sync.Mutex
	ids      int64
	queries  map[string]*query
	order    []string
	commands map[string][]BotCommand
}

func (ms *miscState) init() {
	ms.mu.Lock()
	ms.queries = make(map[string]*query)
	ms.order = nil
	ms.commands = make(map[string][]BotCommand)
	ms.mu.Unlock()
}

func (ms *miscState) nextID() int64 {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.ids++
	return ms.ids
}

// newQuery registers a query and returns its id.
func (ms *miscState) newQuery(kind queryKind) string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.ids++
	id := strconv.FormatInt(4_000_000_000_000_000+ms.ids, 10)
	ms.queries[id] = &query{kind: kind, answered: make(chan struct{})}
	ms.order = append(ms.order, id)
	if len(ms.order) > maxQueries {
		delete(ms.queries, ms.order[0])
		ms.order = slices.Delete(ms.order, 0, 1)
	}
	return id
}

// answer records the answer to query id once; fill writes it.
func (ms *miscState) answer(id string, kind queryKind, fill func(q *query)) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	q := ms.queries[id]
	if q == nil || q.kind != kind {
		return errQueryInvalid
	}
	select {
	case <-q.answered:
		return errQueryInvalid
	default:
	}
	fill(q)
	close(q.answered)
	return nil
}

func (ms *miscState) wait(ctx context.Context, done <-chan struct{}, id string) (*query, error) {
	ms.mu.Lock()
	q := ms.queries[id]
	ms.mu.Unlock()
	if q == nil {
		return nil, fmt.Errorf("tgtest: no query %q", id)
	}
	select {
	case <-q.answered:
		ms.mu.Lock()
		defer ms.mu.Unlock()
		return q, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-done:
		return nil, ErrClosed
	}
}

// WaitCallbackAnswer blocks until the bot answers callback query id (as
// returned by SimUser.Press), ctx ends or the server closes.
func (s *Server) WaitCallbackAnswer(ctx context.Context, id string) (CallbackAnswer, error) {
	q, err := s.misc.wait(ctx, s.done, id)
	if err != nil {
		return CallbackAnswer{}, err
	}
	return q.cb, nil
}

// WaitInlineAnswer blocks until the bot answers inline query id (as
// returned by SimUser.InlineQuery), ctx ends or the server closes.
func (s *Server) WaitInlineAnswer(ctx context.Context, id string) (InlineAnswer, error) {
	q, err := s.misc.wait(ctx, s.done, id)
	if err != nil {
		return InlineAnswer{}, err
	}
	return q.inl, nil
}

func (s *Server) answerCallbackQuery(rq *request) (any, error) {
	var p struct {
		ID        strParam `json:"callback_query_id"`
		Text      strParam `json:"text"`
		ShowAlert bool     `json:"show_alert"`
		URL       strParam `json:"url"`
		CacheTime intParam `json:"cache_time"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	if utf16Len(string(p.Text)) > 200 {
		return nil, badRequest("MESSAGE_TOO_LONG")
	}
	err := s.misc.answer(string(p.ID), queryCallback, func(q *query) {
		q.cb = CallbackAnswer{Text: string(p.Text), ShowAlert: p.ShowAlert, URL: string(p.URL), CacheTime: int(p.CacheTime)}
	})
	if err != nil {
		return nil, err
	}
	return true, nil
}

func (s *Server) answerInlineQuery(rq *request) (any, error) {
	var p struct {
		ID         strParam        `json:"inline_query_id"`
		Results    json.RawMessage `json:"results"`
		CacheTime  intParam        `json:"cache_time"`
		IsPersonal bool            `json:"is_personal"`
		NextOffset strParam        `json:"next_offset"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	var results []json.RawMessage
	if err := json.Unmarshal(p.Results, &results); err != nil {
		return nil, badRequest("can't parse inline query results JSON array")
	}
	if len(results) > 50 {
		return nil, badRequest("RESULTS_TOO_MUCH")
	}
	res := slices.Clone(p.Results) // p.Results aliases a pooled buffer
	err := s.misc.answer(string(p.ID), queryInline, func(q *query) {
		q.inl = InlineAnswer{Results: res, NextOffset: string(p.NextOffset), CacheTime: int(p.CacheTime), IsPersonal: p.IsPersonal}
	})
	if err != nil {
		return nil, err
	}
	return true, nil
}

var commandRE = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

type commandScope struct {
	Scope *struct {
		Type   string  `json:"type"`
		ChatID chatRef `json:"chat_id"`
		UserID int64   `json:"user_id"`
	} `json:"scope"`
	LanguageCode strParam `json:"language_code"`
}

func (cs commandScope) key() string {
	k := "default"
	if cs.Scope != nil && cs.Scope.Type != "" {
		k = cs.Scope.Type + "/" + strconv.FormatInt(cs.Scope.ChatID.ID, 10) + cs.Scope.ChatID.Username + "/" + strconv.FormatInt(cs.Scope.UserID, 10)
	}
	return k + "/" + string(cs.LanguageCode)
}

func (s *Server) setMyCommands(rq *request) (any, error) {
	var p struct {
		commandScope
		Commands []BotCommand `json:"commands"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	if len(p.Commands) > 100 {
		return nil, badRequest("too many commands")
	}
	for _, c := range p.Commands {
		if !commandRE.MatchString(c.Command) || c.Description == "" || len([]rune(c.Description)) > 256 {
			return nil, badRequest("BOT_COMMAND_INVALID")
		}
	}
	s.misc.mu.Lock()
	s.misc.commands[p.key()] = p.Commands
	s.misc.mu.Unlock()
	return true, nil
}

func (s *Server) getMyCommands(rq *request) (any, error) {
	return s.withCommands(rq, func(m map[string][]BotCommand, key string) any {
		if cmds := m[key]; cmds != nil {
			return cmds
		}
		return []BotCommand{}
	})
}

func (s *Server) deleteMyCommands(rq *request) (any, error) {
	return s.withCommands(rq, func(m map[string][]BotCommand, key string) any {
		delete(m, key)
		return true
	})
}

// withCommands decodes a command scope and runs fn on the menus under lock.
func (s *Server) withCommands(rq *request, fn func(m map[string][]BotCommand, key string) any) (any, error) {
	var p commandScope
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	s.misc.mu.Lock()
	defer s.misc.mu.Unlock()
	return fn(s.misc.commands, p.key()), nil
}

// Commands returns the bot's default command menu (scope default, no
// language), as set with setMyCommands.
func (s *Server) Commands() []BotCommand {
	s.misc.mu.Lock()
	defer s.misc.mu.Unlock()
	return slices.Clone(s.misc.commands["default/"])
}
