package tgtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// First ids given to simulated users and groups.
const (
	firstUserID  = 100_000_000
	firstGroupID = -1_001_000_000_000
)

// ErrNotMember is returned when a simulated user acts in a group they are
// not a member of.
var ErrNotMember = errors.New("tgtest: user is not a member of the group")

// SimUser is a simulated Telegram user who talks to the bot. Each action
// enqueues the update Telegram would send the bot. Methods are safe for
// concurrent use.
type SimUser struct {
	s    *Server
	user User
	chat *chatState // the private chat with the bot

	mu     sync.Mutex
	cursor int64 // bot messages of the private chat consumed by WaitReply
}

// SimGroup is a simulated supergroup the bot is a member of.
type SimGroup struct {
	s    *Server
	chat *chatState
}

type idGen struct{ users, groups atomic.Int64 }

// NewUser creates a user with the given first name (and a username made of
// it) and the user's private chat with the bot. It is cheap: creating
// thousands of users for a load test is fine.
func (s *Server) NewUser(name string) *SimUser {
	id := firstUserID + s.ids.users.Add(1)
	u := User{ID: id, FirstName: name, Username: usernameOf(name, id), LanguageCode: "en"}
	c := s.chats.add(Chat{ID: id, Type: "private", FirstName: name, Username: u.Username}, false)
	c.mu.Lock()
	c.user = &u
	c.mu.Unlock()
	return &SimUser{s: s, user: u, chat: c}
}

func usernameOf(name string, id int64) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		}
	}
	if b.Len() < 3 {
		b.WriteString("user" + strconv.FormatInt(id, 10))
	}
	return b.String()
}

// NewGroup creates a supergroup with the given title. The bot is a member;
// users join with SimUser.Join.
func (s *Server) NewGroup(title string) *SimGroup {
	id := firstGroupID - s.ids.groups.Add(1)
	c := s.chats.add(Chat{ID: id, Type: "supergroup", Title: title}, true)
	c.mu.Lock()
	c.members = map[int64]bool{}
	c.mu.Unlock()
	return &SimGroup{s: s, chat: c}
}

// User returns the Telegram user.
func (u *SimUser) User() User { return u.user }

// ID returns the user's id, which is also the id of the private chat.
func (u *SimUser) ID() int64 { return u.user.ID }

// ChatID returns the id of the user's private chat with the bot.
func (u *SimUser) ChatID() int64 { return u.chat.chat.ID }

// ID returns the group's chat id.
func (g *SimGroup) ID() int64 { return g.chat.chat.ID }

// Chat returns the group's chat.
func (g *SimGroup) Chat() Chat { return g.chat.chat }

func (u *SimUser) in(g *SimGroup) (*chatState, error) {
	if g == nil {
		return u.chat, nil
	}
	g.chat.mu.Lock()
	ok := g.chat.members[u.user.ID]
	g.chat.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s in %q", ErrNotMember, u.user.FirstName, g.chat.chat.Title)
	}
	return g.chat, nil
}

// post stores m from the user in c and enqueues it as a message update.
func (u *SimUser) post(c *chatState, m *Message) (Message, error) {
	from := u.user
	m.From, m.Chat = &from, c.chat
	if c.add(m, false) {
		u.s.c.historyDropped.Add(1)
	}
	if _, err := u.s.enqueueValue("message", c.chat.ID, m); err != nil {
		c.remove(m.MessageID) // never delivered: not part of the chat either
		return Message{}, err
	}
	return *m, nil
}

// Send sends text to the bot in the private chat and returns the message
// as the bot will see it. It fails only if the update queue is full
// (ErrQueueFull) or the server is closed.
func (u *SimUser) Send(text string) (Message, error) { return u.SendTo(nil, text) }

// SendTo sends text in group g (nil: the private chat).
func (u *SimUser) SendTo(g *SimGroup, text string) (Message, error) {
	c, err := u.in(g)
	if err != nil {
		return Message{}, err
	}
	return u.post(c, &Message{Text: text})
}

// Command sends "/command args" (args may be empty) with its bot_command
// entity in the private chat.
func (u *SimUser) Command(command, args string) (Message, error) {
	return u.CommandTo(nil, command, args)
}

// CommandTo sends a command in group g (nil: the private chat), addressed
// as /command@botusername as group clients do.
func (u *SimUser) CommandTo(g *SimGroup, command, args string) (Message, error) {
	c, err := u.in(g)
	if err != nil {
		return Message{}, err
	}
	cmd := "/" + strings.TrimPrefix(command, "/")
	if g != nil {
		cmd += "@" + u.s.bot.Username
	}
	text := cmd
	if args != "" {
		text += " " + args
	}
	return u.post(c, &Message{Text: text, Entities: []MessageEntity{{Type: "bot_command", Offset: 0, Length: utf16Len(cmd)}}})
}

// Reply sends text in reply to message to (in the chat of to).
func (u *SimUser) Reply(to Message, text string) (Message, error) {
	c := u.s.chats.get(to.Chat.ID)
	if c == nil {
		return Message{}, fmt.Errorf("tgtest: unknown chat %d", to.Chat.ID)
	}
	if c != u.chat {
		if _, err := u.in(&SimGroup{s: u.s, chat: c}); err != nil {
			return Message{}, err
		}
	}
	cur := c.message(to.MessageID)
	if cur == nil {
		return Message{}, fmt.Errorf("tgtest: message %d not in chat %d", to.MessageID, to.Chat.ID)
	}
	r := *cur
	r.ReplyToMessage = nil
	return u.post(c, &Message{Text: text, ReplyToMessage: &r})
}

// SendPhoto sends an image (PNG, JPEG or GIF bytes; other bytes give a 0×0
// photo) with a caption in the private chat. The bot can getFile and
// download it.
func (u *SimUser) SendPhoto(image []byte, caption string) (Message, error) {
	f, err := u.s.files.saveBytes(image, "photo.jpg", "image/jpeg")
	if err != nil {
		return Message{}, err
	}
	return u.post(u.chat, &Message{Photo: f.photo(), Caption: caption})
}

// SendDocument sends a file named name in the private chat. The bot can
// getFile and download it.
func (u *SimUser) SendDocument(name string, data []byte) (Message, error) {
	f, err := u.s.files.saveBytes(data, name, "application/octet-stream")
	if err != nil {
		return Message{}, err
	}
	return u.post(u.chat, &Message{Document: f.document()})
}

// Press presses the inline keyboard button with callback_data data on the
// bot's message msg (its current version in the chat). It returns the
// callback query id, for SimUser's WaitCallbackAnswer. It fails if the
// message is gone or has no such button.
func (u *SimUser) Press(msg Message, data string) (string, error) {
	c := u.s.chatOf(msg)
	if c == nil {
		return "", fmt.Errorf("tgtest: unknown chat %d", msg.Chat.ID)
	}
	cur := c.message(msg.MessageID)
	if cur == nil {
		return "", fmt.Errorf("tgtest: message %d not in chat %d", msg.MessageID, msg.Chat.ID)
	}
	found := false
	for _, b := range cur.Buttons() {
		if b.CallbackData == data {
			found = true
			break
		}
	}
	if !found {
		return "", fmt.Errorf("tgtest: message %d has no button with callback_data %q", msg.MessageID, data)
	}
	id := u.s.misc.newQuery(queryCallback)
	cq := &CallbackQuery{ID: id, From: u.user, Message: cur, ChatInstance: strconv.FormatInt(c.chat.ID*7919, 10), Data: data}
	if _, err := u.s.enqueueValue("callback_query", c.chat.ID, cq); err != nil {
		return "", err
	}
	return id, nil
}

// WaitCallbackAnswer waits for the bot's answer to the callback query id.
func (u *SimUser) WaitCallbackAnswer(ctx context.Context, id string) (CallbackAnswer, error) {
	return u.s.WaitCallbackAnswer(ctx, id)
}

// InlineQuery types query in inline mode and returns the query id, for
// Server.WaitInlineAnswer.
func (u *SimUser) InlineQuery(query string) (string, error) {
	id := u.s.misc.newQuery(queryInline)
	iq := &InlineQuery{ID: id, From: u.user, Query: query, ChatType: "sender"}
	if _, err := u.s.enqueueValue("inline_query", u.user.ID, iq); err != nil {
		return "", err
	}
	return id, nil
}

// Join adds the user to g: the bot gets a message with new_chat_members
// and a chat_member update (delivered only if allowed_updates asks for it).
func (u *SimUser) Join(g *SimGroup) error { return u.membership(g, true) }

// Leave removes the user from g: the bot gets a message with
// left_chat_member and a chat_member update.
func (u *SimUser) Leave(g *SimGroup) error { return u.membership(g, false) }

func (u *SimUser) membership(g *SimGroup, join bool) error {
	g.chat.mu.Lock()
	if g.chat.members == nil {
		g.chat.members = map[int64]bool{}
	}
	was := g.chat.members[u.user.ID]
	if was == join {
		g.chat.mu.Unlock()
		return nil
	}
	g.chat.members[u.user.ID] = join
	if !join {
		delete(g.chat.members, u.user.ID)
	}
	delete(g.chat.status, u.user.ID) // back to plain member or left
	g.chat.mu.Unlock()
	m := &Message{}
	old, now := "left", "member"
	if join {
		m.NewChatMembers = []User{u.user}
	} else {
		m.LeftChatMember = &u.user
		old, now = now, old
	}
	if _, err := u.post(g.chat, m); err != nil {
		return err
	}
	cmu := &ChatMemberUpdated{Chat: g.chat.chat, From: u.user, Date: time.Now().Unix(),
		OldChatMember: ChatMember{Status: old, User: u.user}, NewChatMember: ChatMember{Status: now, User: u.user}}
	_, err := u.s.enqueueValue("chat_member", g.chat.chat.ID, cmu)
	return err
}

// Block blocks the bot: its sends to the user fail with 403 "Forbidden:
// bot was blocked by the user", and the bot gets a my_chat_member update.
// Unblock undoes it.
func (u *SimUser) Block() error { return u.setBlocked(true) }

// Unblock unblocks the bot (see Block).
func (u *SimUser) Unblock() error { return u.setBlocked(false) }

func (u *SimUser) setBlocked(b bool) error {
	u.chat.mu.Lock()
	changed := u.chat.blocked != b
	u.chat.blocked = b
	u.chat.mu.Unlock()
	if !changed {
		return nil
	}
	old, now := "member", "kicked"
	if !b {
		old, now = now, old
	}
	cmu := &ChatMemberUpdated{Chat: u.chat.chat, From: u.user, Date: time.Now().Unix(),
		OldChatMember: ChatMember{Status: old, User: u.s.bot}, NewChatMember: ChatMember{Status: now, User: u.s.bot}}
	_, err := u.s.enqueueValue("my_chat_member", u.chat.chat.ID, cmu)
	return err
}

// WaitReply blocks until the bot sends the next message in the private
// chat (the first one after those already returned by WaitReply) and
// returns its current version, or fails when ctx ends or the server
// closes. Messages dropped from the history are skipped.
func (u *SimUser) WaitReply(ctx context.Context) (Message, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var got *Message
	err := u.chat.waitFor(ctx, u.s.done, func() bool {
		if u.chat.botSeq <= u.cursor {
			return false
		}
		for i := 0; i < u.chat.count; i++ {
			r := &u.chat.recs[(u.chat.start+i)%len(u.chat.recs)]
			if r.seq > u.cursor {
				got, u.cursor = r.m, r.seq
				return true
			}
		}
		u.cursor = u.chat.botSeq
		return false
	})
	if err != nil {
		return Message{}, err
	}
	return *got, nil
}

// Messages returns the messages the bot sent to chatID that the history
// still holds, oldest first, in their current (edited) version; deleted
// ones are left out.
func (s *Server) Messages(chatID int64) []Message {
	return s.chatMessages(chatID, func(r *msgRec) bool { return r.seq > 0 })
}

// History returns every message of chatID the history holds (the users'
// and the bot's), oldest first.
func (s *Server) History(chatID int64) []Message {
	return s.chatMessages(chatID, func(*msgRec) bool { return true })
}

func (s *Server) chatMessages(chatID int64, keep func(*msgRec) bool) []Message {
	c := s.chats.get(chatID)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.collectLocked(keep)
}

// WaitMessages blocks until the bot has sent at least n messages to chatID
// since the chat was created, then returns the first n of them that the
// history still holds (current versions, deleted ones left out). It fails
// when ctx ends, the server closes or the chat is unknown.
func (s *Server) WaitMessages(ctx context.Context, chatID int64, n int) ([]Message, error) {
	c := s.chats.get(chatID)
	if c == nil {
		return nil, fmt.Errorf("tgtest: unknown chat %d", chatID)
	}
	var out []Message
	err := c.waitFor(ctx, s.done, func() bool {
		if c.botSeq < int64(n) {
			return false
		}
		out = c.collectLocked(func(r *msgRec) bool { return r.seq > 0 && r.seq <= int64(n) })
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("tgtest: waiting for %d messages in chat %d: %w", n, chatID, err)
	}
	return out, nil
}

// ChatAction returns the last action sent with sendChatAction to chatID.
func (s *Server) ChatAction(chatID int64) string {
	c := s.chats.get(chatID)
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.action
}

// Reset forgets every pending update, webhook, chat, user, group, file,
// query, command, fault and counter (except the connection counters) and
// switches flood control off. Users and groups created before are stale.
func (s *Server) Reset() {
	s.stopWebhook()
	s.mu.Lock()
	s.dropPending()
	next := s.q.nextID
	s.q.init()
	s.q.nextID = next // update_ids keep increasing, as a bot's offset expects
	if s.poller != nil {
		s.poller.wake()
	}
	s.mu.Unlock()
	s.chats.init(s.cfg.historyLimit)
	s.files.reset()
	s.misc.init()
	s.biz.init()
	s.faults.init(s.faults.seed)
	s.flood.init(nil)
	s.c.reset()
}
