package tgtest

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// chatStore holds every chat the server knows.
type chatStore struct {
	mu     sync.RWMutex
	byID   map[int64]*chatState
	byName map[string]*chatState
	limit  int
}

func (cs *chatStore) init(limit int) {
	cs.mu.Lock()
	cs.byID = make(map[int64]*chatState)
	cs.byName = make(map[string]*chatState)
	cs.limit = limit
	cs.mu.Unlock()
}

func (cs *chatStore) get(id int64) *chatState {
	cs.mu.RLock()
	c := cs.byID[id]
	cs.mu.RUnlock()
	return c
}

func (cs *chatStore) resolve(ref chatRef) *chatState {
	if ref.Username != "" {
		cs.mu.RLock()
		c := cs.byName[ref.Username]
		cs.mu.RUnlock()
		return c
	}
	return cs.get(ref.ID)
}

// add registers a chat, or returns the one already known under its id.
func (cs *chatStore) add(chat Chat, group bool) *chatState {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.byID[chat.ID]; c != nil {
		return c
	}
	c := &chatState{chat: chat, group: group, botIn: true, limit: cs.limit}
	cs.byID[chat.ID] = c
	if chat.Username != "" && group {
		cs.byName[chat.Username] = c
	}
	return c
}

func (cs *chatStore) all() []*chatState {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	out := make([]*chatState, 0, len(cs.byID))
	for _, c := range cs.byID {
		out = append(out, c)
	}
	return out
}

// learn registers the chat an update field names and returns the key that
// orders the update (the chat id, else the sender's id, else 0).
func (cs *chatStore) learn(val json.RawMessage) int64 {
	var v struct {
		Chat    *Chat `json:"chat"`
		Message *struct {
			Chat *Chat `json:"chat"`
		} `json:"message"`
		From *User `json:"from"`
		User *User `json:"user"`
	}
	if json.Unmarshal(val, &v) != nil {
		return 0
	}
	chat := v.Chat
	if chat == nil && v.Message != nil {
		chat = v.Message.Chat
	}
	if chat != nil && chat.ID != 0 {
		cs.add(*chat, chat.Type != "private")
		return chat.ID
	}
	if v.From != nil {
		return v.From.ID
	}
	if v.User != nil {
		return v.User.ID
	}
	return 0
}

// msgRec is one message held in a chat's history. Messages are never
// modified once stored: an edit stores a new *Message.
type msgRec struct {
	m       *Message
	seq     int64 // 1-based number among the bot's messages to the chat; 0 for others
	deleted bool
}

// chatState is a chat and its bounded history, a ring of records in
// message id order.
type chatState struct {
	mu      sync.Mutex
	chat    Chat
	group   bool
	botIn   bool
	blocked bool
	members map[int64]bool
	user    *User            // the other party of a private chat with a simulated user
	biz     *bizConn         // the business connection of a business chat; nil otherwise
	status  map[int64]string // members' statuses set with SimGroup.SetStatus
	botStat string           // the bot's status in a group ("" = member)
	limit   int
	nextID  int64
	recs    []msgRec // ring
	start   int
	count   int
	botSeq  int64
	dropped int64
	action  string
	wait    chan struct{} // closed when the bot adds or changes a message
}

// add stores m (its MessageID and Date are set here) and reports whether
// an old message had to be dropped. fromBot numbers it among the bot's.
func (c *chatState) add(m *Message, fromBot bool) (dropped bool) {
	return c.addWithID(m, fromBot, 0)
}

// addWithID is add that keeps wantID as the message id when it is above
// every id of the chat (a pushed message keeps its own id); otherwise the
// next id is used.
func (c *chatState) addWithID(m *Message, fromBot bool, wantID int64) (dropped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if wantID > c.nextID {
		c.nextID = wantID - 1
	}
	c.nextID++
	m.MessageID = c.nextID
	if m.Date == 0 {
		m.Date = time.Now().Unix()
	}
	rec := msgRec{m: m}
	if fromBot {
		c.botSeq++
		rec.seq = c.botSeq
		c.notifyLocked()
	}
	if c.count == len(c.recs) && c.count < c.limit {
		n := min(max(2*len(c.recs), 4), c.limit)
		recs := make([]msgRec, n)
		for i := 0; i < c.count; i++ {
			recs[i] = c.recs[(c.start+i)%len(c.recs)]
		}
		c.recs, c.start = recs, 0
	}
	if c.count == len(c.recs) {
		c.recs[c.start] = rec
		c.start = (c.start + 1) % len(c.recs)
		c.dropped++
		return true
	}
	c.recs[(c.start+c.count)%len(c.recs)] = rec
	c.count++
	return false
}

func (c *chatState) notifyLocked() {
	if c.wait != nil {
		close(c.wait)
		c.wait = nil
	}
}

// recLocked returns the record of message id, or nil. Ids increase along
// the ring (with gaps where pushed messages brought their own), so this is
// a binary search. Mu held.
func (c *chatState) recLocked(id int64) *msgRec {
	lo, hi := 0, c.count
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c.recs[(c.start+mid)%len(c.recs)].m.MessageID < id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == c.count {
		return nil
	}
	r := &c.recs[(c.start+lo)%len(c.recs)]
	if r.m.MessageID != id || r.deleted {
		return nil
	}
	return r
}

// message returns the current version of message id.
func (c *chatState) message(id int64) *Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.recLocked(id); r != nil {
		return r.m
	}
	return nil
}

// edit replaces message id with fn's result. fn gets the current version
// and returns the new one or an error.
func (c *chatState) edit(id int64, notFound error, fn func(old *Message) (*Message, error)) (*Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.recLocked(id)
	if r == nil {
		return nil, notFound
	}
	m, err := fn(r.m)
	if err != nil {
		return nil, err
	}
	r.m = m
	if r.seq > 0 {
		c.notifyLocked()
	}
	return m, nil
}

func (c *chatState) remove(id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.recLocked(id)
	if r == nil {
		return false
	}
	r.deleted = true
	if r.seq > 0 {
		c.notifyLocked()
	}
	return true
}

// collect returns the held messages matching keep, oldest first. Mu held.
func (c *chatState) collectLocked(keep func(*msgRec) bool) []Message {
	var out []Message
	for i := 0; i < c.count; i++ {
		r := &c.recs[(c.start+i)%len(c.recs)]
		if !r.deleted && keep(r) {
			out = append(out, *r.m)
		}
	}
	return out
}

// waitFor blocks until cond (called with mu held) reports true, ctx ends or
// done is closed.
func (c *chatState) waitFor(ctx context.Context, done <-chan struct{}, cond func() bool) error {
	for {
		c.mu.Lock()
		if cond() {
			c.mu.Unlock()
			return nil
		}
		if c.wait == nil {
			c.wait = make(chan struct{})
		}
		ch := c.wait
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return ErrClosed
		}
	}
}
