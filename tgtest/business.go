package tgtest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Errors of business sends, worded as Telegram words them.
var (
	errBizInvalid  = badRequest("BUSINESS_CONNECTION_INVALID")
	errBizDisabled = badRequest("BUSINESS_CONNECTION_NOT_ALLOWED")
)

// bizConn is one business connection: the owner's account and its
// private chats with customers, kept apart from the bot's own chats (a
// business chat has the customer's id, as the bot's private chat with
// that customer has).
type bizConn struct {
	conn  BusinessConnection // guarded by bizStore.mu
	chats map[int64]*chatState
}

// bizStore holds the business connections.
type bizStore struct {
	mu   sync.Mutex
	byID map[string]*bizConn
	n    int64
}

func (bs *bizStore) init() {
	bs.mu.Lock()
	bs.byID = make(map[string]*bizConn)
	bs.mu.Unlock()
}

// SimBusiness is a simulated business account that connected the bot
// (Telegram Business): customers write to its owner, the bot gets
// business_message updates and answers on the owner's behalf by passing
// business_connection_id.
type SimBusiness struct {
	s     *Server
	owner *SimUser
	c     *bizConn
}

// ConnectBusiness connects the bot to u's business account with the right
// to reply: the bot gets a business_connection update. Each call makes a
// new connection.
func (u *SimUser) ConnectBusiness() (*SimBusiness, error) {
	s := u.s
	s.biz.mu.Lock()
	s.biz.n++
	id := "BzC" + strconv.FormatInt(u.user.ID, 36) + "-" + strconv.FormatInt(s.biz.n, 10)
	c := &bizConn{
		conn: BusinessConnection{ID: id, User: u.user, UserChatID: u.user.ID, Date: time.Now().Unix(),
			Rights: &BusinessBotRights{CanReply: true}, IsEnabled: true},
		chats: make(map[int64]*chatState),
	}
	s.biz.byID[id] = c
	conn := c.conn
	s.biz.mu.Unlock()
	if _, err := s.enqueueValue("business_connection", u.user.ID, &conn); err != nil {
		return nil, err
	}
	return &SimBusiness{s: s, owner: u, c: c}, nil
}

// ID returns the business_connection_id.
func (b *SimBusiness) ID() string { return b.c.conn.ID }

// Owner returns the business account's owner.
func (b *SimBusiness) Owner() *SimUser { return b.owner }

// Disconnect disables the connection: the bot gets a business_connection
// update with is_enabled false, and its sends through the connection fail
// with 400 "BUSINESS_CONNECTION_NOT_ALLOWED".
func (b *SimBusiness) Disconnect() error {
	b.s.biz.mu.Lock()
	b.c.conn.IsEnabled = false
	conn := b.c.conn
	b.s.biz.mu.Unlock()
	_, err := b.s.enqueueValue("business_connection", b.owner.user.ID, &conn)
	return err
}

// chat returns the business chat with customer (created on first use).
func (b *SimBusiness) chat(customer User) *chatState {
	b.s.biz.mu.Lock()
	defer b.s.biz.mu.Unlock()
	c := b.c.chats[customer.ID]
	if c == nil {
		c = &chatState{chat: Chat{ID: customer.ID, Type: "private", FirstName: customer.FirstName, Username: customer.Username},
			botIn: true, limit: b.s.cfg.historyLimit, user: &customer, biz: b.c}
		b.c.chats[customer.ID] = c
	}
	return c
}

// Send has customer write text to the business account: the bot gets a
// business_message update in the chat between owner and customer (its
// chat id is the customer's id).
func (b *SimBusiness) Send(customer *SimUser, text string) (Message, error) {
	c := b.chat(customer.user)
	from := customer.user
	m := &Message{Text: text, From: &from, Chat: c.chat, BusinessConnectionID: b.c.conn.ID}
	if c.add(m, false) {
		b.s.c.historyDropped.Add(1)
	}
	if _, err := b.s.enqueueValue("business_message", c.chat.ID, m); err != nil {
		c.remove(m.MessageID)
		return Message{}, err
	}
	return *m, nil
}

// Messages returns what the bot sent on the account's behalf to customer,
// oldest first (current versions).
func (b *SimBusiness) Messages(customer *SimUser) []Message {
	c := b.chat(customer.user)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.collectLocked(func(r *msgRec) bool { return r.seq > 0 })
}

// WaitMessages blocks until the bot has sent at least n messages on the
// account's behalf to customer, and returns the first n the history
// holds; it fails when ctx ends or the server closes.
func (b *SimBusiness) WaitMessages(ctx context.Context, customer *SimUser, n int) ([]Message, error) {
	c := b.chat(customer.user)
	var out []Message
	err := c.waitFor(ctx, b.s.done, func() bool {
		if c.botSeq < int64(n) {
			return false
		}
		out = c.collectLocked(func(r *msgRec) bool { return r.seq > 0 && r.seq <= int64(n) })
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("tgtest: waiting for %d business messages to %d: %w", n, customer.user.ID, err)
	}
	return out, nil
}

// targetFor resolves the chat a method writes to: through the business
// connection id when one is given, else as target does.
func (s *Server) targetFor(bizID string, ref chatRef) (*chatState, error) {
	if bizID == "" {
		return s.target(ref)
	}
	if !ref.Set {
		return nil, errChatIDEmpty
	}
	s.biz.mu.Lock()
	b := s.biz.byID[bizID]
	var c *chatState
	enabled := false
	if b != nil {
		c, enabled = b.chats[ref.ID], b.conn.IsEnabled
	}
	s.biz.mu.Unlock()
	switch {
	case b == nil:
		return nil, errBizInvalid
	case !enabled:
		return nil, errBizDisabled
	case c == nil:
		return nil, errChatNotFound
	}
	return c, nil
}

// sentByBot reports whether m is the bot's: its own, or sent on a
// business account's behalf.
func (s *Server) sentByBot(m *Message) bool {
	if m.SenderBusinessBot != nil {
		return m.SenderBusinessBot.ID == s.bot.ID
	}
	return m.From != nil && m.From.ID == s.bot.ID
}

// chatOf returns the chat msg is in: a business chat for a message of a
// business connection, else the chat of its id (nil when unknown).
func (s *Server) chatOf(msg Message) *chatState {
	if msg.BusinessConnectionID == "" {
		return s.chats.get(msg.Chat.ID)
	}
	s.biz.mu.Lock()
	defer s.biz.mu.Unlock()
	if b := s.biz.byID[msg.BusinessConnectionID]; b != nil {
		return b.chats[msg.Chat.ID]
	}
	return nil
}
