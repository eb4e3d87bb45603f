package tgtest

import (
	"fmt"
	"time"
)

// Chat member statuses (ChatMember.Status).
const (
	StatusCreator       = "creator"
	StatusAdministrator = "administrator"
	StatusMember        = "member"
	StatusRestricted    = "restricted"
	StatusLeft          = "left"
	StatusKicked        = "kicked"
)

func checkStatus(st string) error {
	switch st {
	case StatusCreator, StatusAdministrator, StatusMember, StatusRestricted, StatusLeft, StatusKicked:
		return nil
	}
	return fmt.Errorf("tgtest: unknown chat member status %q", st)
}

// SetStatus changes u's status in g (promoted to administrator, restricted,
// kicked, …), as an administrator by would: the bot gets a chat_member
// update from the old status to the new one (delivered only if
// allowed_updates asks for chat_member, as on Telegram). Statuses left and
// kicked remove u from g; the others make u a member. Setting the status u
// already has sends nothing.
func (g *SimGroup) SetStatus(by, u *SimUser, status string) error {
	if err := checkStatus(status); err != nil {
		return err
	}
	c := g.chat
	c.mu.Lock()
	old := c.status[u.user.ID]
	if old == "" {
		old = StatusLeft
		if c.members[u.user.ID] {
			old = StatusMember
		}
	}
	if old == status {
		c.mu.Unlock()
		return nil
	}
	if c.status == nil {
		c.status = map[int64]string{}
	}
	if c.members == nil {
		c.members = map[int64]bool{}
	}
	c.status[u.user.ID] = status
	if status == StatusLeft || status == StatusKicked {
		delete(c.members, u.user.ID)
	} else {
		c.members[u.user.ID] = true
	}
	c.mu.Unlock()
	cmu := &ChatMemberUpdated{Chat: c.chat, From: by.user, Date: time.Now().Unix(),
		OldChatMember: ChatMember{Status: old, User: u.user}, NewChatMember: ChatMember{Status: status, User: u.user}}
	_, err := g.s.enqueueValue("chat_member", c.chat.ID, cmu)
	return err
}

// SetBotStatus changes the bot's own status in g, as user by would (an
// administrator promoting or removing it): the bot gets a my_chat_member
// update. With left or kicked the bot is no longer in g: its sends there
// fail with 403 "Forbidden: bot is not a member of the group chat"; any
// other status puts it back.
func (g *SimGroup) SetBotStatus(by *SimUser, status string) error {
	if err := checkStatus(status); err != nil {
		return err
	}
	c := g.chat
	c.mu.Lock()
	old := c.botStat
	if old == "" {
		old = StatusMember
	}
	if old == status {
		c.mu.Unlock()
		return nil
	}
	c.botStat = status
	c.botIn = status != StatusLeft && status != StatusKicked
	c.mu.Unlock()
	cmu := &ChatMemberUpdated{Chat: c.chat, From: by.user, Date: time.Now().Unix(),
		OldChatMember: ChatMember{Status: old, User: g.s.bot}, NewChatMember: ChatMember{Status: status, User: g.s.bot}}
	_, err := g.s.enqueueValue("my_chat_member", c.chat.ID, cmu)
	return err
}
