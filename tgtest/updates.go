package tgtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// updateKinds are the fields of Update in Bot API 10.1, in spec order.
var updateKinds = [...]string{
	"message", "edited_message", "channel_post", "edited_channel_post",
	"business_connection", "business_message", "edited_business_message",
	"deleted_business_messages", "guest_message", "message_reaction",
	"message_reaction_count", "inline_query", "chosen_inline_result",
	"callback_query", "shipping_query", "pre_checkout_query",
	"purchased_paid_media", "poll", "poll_answer", "my_chat_member",
	"chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
	"managed_bot",
}

const allKinds = uint32(1)<<len(updateKinds) - 1

// defaultAllowed is every kind except chat_member, message_reaction and
// message_reaction_count, as Telegram documents for an empty list.
var defaultAllowed = allKinds &^ (kindBit("chat_member") | kindBit("message_reaction") | kindBit("message_reaction_count"))

func kindIndex(name string) int {
	for i, k := range updateKinds {
		if k == name {
			return i
		}
	}
	return -1
}

func kindBit(name string) uint32 {
	if i := kindIndex(name); i >= 0 {
		return 1 << i
	}
	return 0
}

// pendingUpdate is one update waiting for confirmation. frag is its JSON
// without update_id and braces (`"message":{…}`), encoded once at enqueue.
type pendingUpdate struct {
	id         int64
	chatKey    int64
	frag       []byte
	deliveries uint32
	done       bool
}

// updateQueue holds pending updates in update_id order. Guarded by
// Server.mu.
type updateQueue struct {
	items   []*pendingUpdate
	head    int
	pending int
	nextID  int64
	allowed uint32
	allowL  []string // allowed_updates as last set, for getWebhookInfo
}

func (q *updateQueue) init() {
	q.items, q.head, q.pending = nil, 0, 0
	q.nextID = 1
	q.allowed = defaultAllowed
	q.allowL = nil
}

// popDone drops confirmed updates from the head and compacts the slice
// when confirmed ones out of order (webhook mode) take too much room.
func (q *updateQueue) popDone() {
	for q.head < len(q.items) && q.items[q.head].done {
		q.items[q.head] = nil
		q.head++
	}
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		return
	}
	live := len(q.items) - q.head
	if q.head > 4096 && q.head > live {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	} else if live > 2*q.pending+4096 {
		n := 0
		for _, u := range q.items[q.head:] {
			if !u.done {
				q.items[n] = u
				n++
			}
		}
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// enqueue adds an update (frag as in pendingUpdate) of the given kind. It
// returns the update_id, or 0 when allowed_updates filters the kind out.
func (s *Server) enqueue(kind int, chatKey int64, frag []byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enqueueLocked(kind, chatKey, frag)
}

func (s *Server) enqueueLocked(kind int, chatKey int64, frag []byte) (int64, error) {
	select {
	case <-s.done:
		return 0, ErrClosed
	default:
	}
	if s.q.allowed&(1<<kind) == 0 {
		s.c.updDropped.Add(1)
		return 0, nil
	}
	if s.q.pending >= s.cfg.maxPending {
		s.c.updRejected.Add(1)
		return 0, fmt.Errorf("%w (%d updates pending)", ErrQueueFull, s.q.pending)
	}
	if s.q.nextID <= 0 {
		return 0, errors.New("tgtest: update_id space exhausted (past math.MaxInt64)")
	}
	u := &pendingUpdate{id: s.q.nextID, chatKey: chatKey, frag: frag}
	s.q.nextID++
	s.q.items = append(s.q.items, u)
	s.q.pending++
	s.c.updEnqueued.Add(1)
	if s.wh != nil {
		s.wh.add(u)
	} else if s.poller != nil {
		s.poller.wake()
	}
	return u.id, nil
}

// enqueueValue encodes v as the update field kind and enqueues it.
func (s *Server) enqueueValue(kind string, chatKey int64, v any) (int64, error) {
	k := kindIndex(kind)
	buf := make([]byte, 0, 256)
	buf = strconv.AppendQuote(buf, kind)
	buf = append(buf, ':')
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	return s.enqueue(k, chatKey, append(buf, b...))
}

// Push enqueues an update built in Go. Its UpdateID is ignored: the server
// assigns the next one, which it returns (0 when allowed_updates filters the
// update out). It fails with ErrQueueFull when the queue is full.
func (s *Server) Push(u Update) (int64, error) {
	u.UpdateID = 0
	b, err := json.Marshal(u)
	if err != nil {
		return 0, err
	}
	return s.PushRaw(b)
}

// PushRaw enqueues an update given as raw Update JSON, such as a real
// update captured from Telegram. Its update_id is replaced by the server's
// next one, which PushRaw returns. The object must have exactly one update
// field besides update_id. A chat named in it (message.chat and the like)
// becomes known, so the bot can answer it.
func (s *Server) PushRaw(raw []byte) (int64, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return 0, fmt.Errorf("tgtest: update is not a JSON object: %w", err)
	}
	delete(obj, "update_id")
	if len(obj) != 1 {
		return 0, fmt.Errorf("tgtest: update must have exactly one field besides update_id, has %d", len(obj))
	}
	for name, val := range obj {
		k := kindIndex(name)
		if k < 0 {
			return 0, fmt.Errorf("tgtest: unknown update field %q", name)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, val); err != nil {
			return 0, fmt.Errorf("tgtest: update field %q: %w", name, err)
		}
		key := s.chats.learn(val)
		b := c.Bytes()
		if name == "message" || name == "channel_post" {
			var err error
			if b, err = s.storePushed(key, b); err != nil {
				return 0, fmt.Errorf("tgtest: update field %q: %w", name, err)
			}
		}
		frag := strconv.AppendQuote(nil, name)
		frag = append(frag, ':')
		return s.enqueue(k, key, append(frag, b...))
	}
	return 0, nil
}

// storePushed stores a pushed new message in its chat's history, so the
// bot can reply to, forward or copy it. The message keeps its message_id
// if that is above the chat's last one; otherwise it gets the next id and
// the returned JSON carries it.
func (s *Server) storePushed(chatID int64, raw []byte) ([]byte, error) {
	c := s.chats.get(chatID)
	if c == nil {
		return raw, nil
	}
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	want := m.MessageID
	c.addWithID(&m, false, want)
	if m.MessageID == want {
		return raw, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	obj["message_id"] = strconv.AppendInt(nil, m.MessageID, 10)
	return json.Marshal(obj)
}

// poller is the getUpdates call currently waiting.
type poller struct {
	ch       chan struct{}
	conflict bool // guarded by Server.mu
}

func (p *poller) wake() {
	select {
	case p.ch <- struct{}{}:
	default:
	}
}

type getUpdatesParams struct {
	Offset         intParam   `json:"offset"`
	Limit          *intParam  `json:"limit"`
	Timeout        intParam   `json:"timeout"`
	AllowedUpdates *listParam `json:"allowed_updates"`
}

func clamp(v, lo, hi int64) int64 { return max(lo, min(hi, v)) }

func (s *Server) getUpdates(rq *request) (any, error) {
	var p getUpdatesParams
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	limit := int64(100)
	if p.Limit != nil {
		limit = clamp(int64(*p.Limit), 1, 100)
	}
	timeout := time.Duration(clamp(int64(p.Timeout), 0, maxLongPoll)) * time.Second
	me := &poller{ch: make(chan struct{}, 1)}
	s.mu.Lock()
	if s.wh != nil {
		s.mu.Unlock()
		return nil, errWebhookActive
	}
	if s.poller != nil {
		s.poller.conflict = true
		s.poller.wake()
	}
	s.poller = me
	s.confirm(int64(p.Offset))
	if p.AllowedUpdates != nil {
		s.setAllowed(*p.AllowedUpdates)
	}
	var timer *time.Timer
	var ctxDone <-chan struct{}
	if rq.r != nil {
		ctxDone = rq.r.Context().Done()
	}
	for {
		select {
		case <-ctxDone: // gone: 499, even when a conflict or updates came meanwhile
			s.leavePoll(me)
			s.mu.Unlock()
			return nil, errClientGone
		default:
		}
		if me.conflict {
			s.mu.Unlock()
			return nil, errOtherPoller
		}
		if s.wh != nil {
			s.leavePoll(me)
			s.mu.Unlock()
			return nil, errWebhookActive
		}
		batch := s.collect(int(limit))
		if len(batch) > 0 || timeout == 0 {
			s.leavePoll(me)
			s.mu.Unlock()
			return encodeUpdates(batch), nil
		}
		s.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(timeout)
			defer timer.Stop()
		}
		select {
		case <-me.ch:
		case <-timer.C:
			timeout = 0
		case <-ctxDone: // answered 499 at the top of the loop
		case <-s.done:
			s.mu.Lock()
			s.leavePoll(me)
			s.mu.Unlock()
			return nil, errClosing
		}
		s.mu.Lock()
	}
}

var errClientGone = &apiError{Code: 499, Desc: "client closed request"}

func (s *Server) leavePoll(me *poller) {
	if s.poller == me {
		s.poller = nil
	}
}

// confirm applies a getUpdates offset: positive confirms every update with
// a lower id, negative keeps only the last -offset updates. Mu held.
func (s *Server) confirm(offset int64) {
	q := &s.q
	switch {
	case offset > 0:
		for q.head < len(q.items) && q.items[q.head].id < offset {
			if u := q.items[q.head]; !u.done {
				u.done = true
				q.pending--
				s.c.updConfirmed.Add(1)
			}
			q.items[q.head] = nil
			q.head++
		}
	case offset < 0:
		keep := -offset
		for i := q.head; i < len(q.items) && int64(q.pending) > keep; i++ {
			if u := q.items[i]; !u.done {
				u.done = true
				q.pending--
				s.c.updDropped.Add(1)
			}
		}
	}
	q.popDone()
}

// setAllowed sets the sticky allowed_updates filter. Mu held.
func (s *Server) setAllowed(list []string) {
	if len(list) == 0 {
		s.q.allowed, s.q.allowL = defaultAllowed, nil
		return
	}
	var m uint32
	for _, k := range list {
		m |= kindBit(k)
	}
	s.q.allowed, s.q.allowL = m, append([]string(nil), list...)
}

// collect returns up to limit pending updates from the head. Mu held.
func (s *Server) collect(limit int) []*pendingUpdate {
	var out []*pendingUpdate
	for _, u := range s.q.items[s.q.head:] {
		if len(out) == limit {
			break
		}
		if u.done {
			continue
		}
		if out == nil {
			out = make([]*pendingUpdate, 0, min(limit, s.q.pending))
		}
		if u.deliveries == 0 {
			s.c.updDelivered.Add(1)
		} else {
			s.c.updRedelivered.Add(1)
		}
		u.deliveries++
		out = append(out, u)
	}
	return out
}

func appendUpdate(b []byte, u *pendingUpdate) []byte {
	b = append(b, `{"update_id":`...)
	b = strconv.AppendInt(b, u.id, 10)
	b = append(b, ',')
	b = append(b, u.frag...)
	return append(b, '}')
}

func encodeUpdates(batch []*pendingUpdate) rawJSON {
	n := 2
	for _, u := range batch {
		n += len(u.frag) + 32
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, u := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendUpdate(b, u)
	}
	return append(b, ']')
}

// dropPending forgets every pending update (drop_pending_updates). Mu held.
func (s *Server) dropPending() {
	for _, u := range s.q.items[s.q.head:] {
		if !u.done {
			u.done = true
			s.c.updDropped.Add(1)
		}
	}
	s.q.items, s.q.head, s.q.pending = nil, 0, 0
}

// Pending reports how many updates wait for confirmation.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.pending
}
