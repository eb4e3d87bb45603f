package fakeapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Telegram's wording of the two getUpdates conflicts.
const (
	descOtherPoller   = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	descWebhookActive = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)

// maxPollTimeout is Telegram's limit on a long poll's timeout.
const maxPollTimeout = 50

// fixedAnswers are the bodies encoded once in New.
type fixedAnswers struct {
	me, message, ok []byte
}

func newFixedAnswers(botID, chatID int64) fixedAnswers {
	bot := fmt.Sprintf(`{"id":%d,"is_bot":true,"first_name":"fakeapi","username":"fakeapi_bot"`, botID)
	return fixedAnswers{
		me: []byte(`{"ok":true,"result":` + bot +
			`,"can_join_groups":true,"can_read_all_group_messages":false,"supports_inline_queries":false}}`),
		message: fmt.Appendf(nil, `{"ok":true,"result":{"message_id":1,"from":%s},"chat":{"id":%d,"type":"private","first_name":"x"},"date":1700000000,"text":"pong"}}`,
			bot, chatID),
		ok: []byte(`{"ok":true,"result":true}`),
	}
}

var (
	updatesPrefix = []byte(`{"ok":true,"result":[`)
	updatesSuffix = []byte(`]}`)
)

// call answers the Bot API method name (case-insensitive, as Telegram).
func (s *Server) call(c *conn, name []byte) {
	switch {
	case foldEq(name, "sendMessage"):
		s.sendMessage(c)
	case foldEq(name, "getUpdates"):
		s.getUpdates(c)
	case foldEq(name, "getMe"):
		s.n.getMe.Add(1)
		c.writeJSON(http.StatusOK, s.resp.me)
	case foldEq(name, "setWebhook"):
		s.setWebhook(c)
	case foldEq(name, "deleteWebhook"):
		s.deleteWebhook(c)
	case foldEq(name, "getWebhookInfo"):
		s.getWebhookInfo(c)
	default:
		s.n.unknown.Add(1)
		m := string(name)
		s.n.lastUnknown.Store(&m)
		c.apiError(http.StatusNotFound, "Not Found: method "+m+" is not implemented by fakeapi")
	}
}

// badParam answers err (an *httpError from a parameter) with 400.
func (c *conn) badParam(err error) {
	var he *httpError
	if errors.As(err, &he) {
		c.apiError(he.code, he.text)
		return
	}
	c.apiError(http.StatusBadRequest, "Bad Request: "+err.Error())
}

func (s *Server) sendMessage(c *conn) {
	s.n.sendMessage.Add(1)
	id, ok, err := c.req.int("chat_id")
	switch {
	case err != nil:
		c.badParam(err)
		return
	case !ok:
		c.apiError(http.StatusBadRequest, "Bad Request: chat_id is empty")
		return
	}
	chat := id - s.cfg.FirstChatID
	if chat < 0 || chat >= int64(s.cfg.Chats) {
		c.apiError(http.StatusBadRequest, "Bad Request: chat not found")
		return
	}
	if v, ok := c.req.param("text"); !ok || len(v.b) == 0 {
		c.apiError(http.StatusBadRequest, "Bad Request: message text is empty")
		return
	}
	s.replies[chat].Add(1)
	s.notify()
	c.writeJSON(http.StatusOK, s.resp.message)
}

// poller is a getUpdates call waiting for updates.
type poller struct {
	ch       chan struct{} // buffered: a wake is never lost
	conflict bool          // a newer getUpdates ended this one; guarded by Server.mu
}

func (p *poller) wake() {
	select {
	case p.ch <- struct{}{}:
	default:
	}
}

func clamp(v, lo, hi int64) int64 { return max(lo, min(hi, v)) }

func (s *Server) getUpdates(c *conn) {
	s.n.getUpdates.Add(1)
	offset, _, err := c.req.int("offset")
	if err != nil {
		c.badParam(err)
		return
	}
	limit, hasLimit, err := c.req.int("limit")
	if err != nil {
		c.badParam(err)
		return
	}
	timeout, _, err := c.req.int("timeout")
	if err != nil {
		c.badParam(err)
		return
	}
	if !hasLimit {
		limit = 100
	}
	limit = clamp(limit, 1, 100)
	timeout = clamp(timeout, 0, maxPollTimeout)

	s.mu.Lock()
	if s.hook != nil {
		s.mu.Unlock()
		c.apiError(http.StatusConflict, descWebhookActive)
		return
	}
	if p := s.poller; p != nil { // Telegram ends the older call
		p.conflict = true
		p.wake()
		s.poller = nil
	}
	s.confirmLocked(offset)
	first, end := s.batchLocked(int(limit))
	if first == end && timeout > 0 {
		var out waitOutcome
		first, end, out = s.waitLocked(c, int(limit), time.Duration(timeout)*time.Second)
		switch out {
		case waitGone:
			c.closing = true
			return
		case waitOther:
			c.apiError(http.StatusConflict, descOtherPoller)
			return
		case waitWebhook:
			c.apiError(http.StatusConflict, descWebhookActive)
			return
		}
	}
	s.markSentLocked(first, end)
	s.mu.Unlock()
	if first == end {
		c.writeJSON(http.StatusOK, []byte(`{"ok":true,"result":[]}`))
		return
	}
	// The updates are consecutive in s.all, commas included: one slice.
	c.writeParts(http.StatusOK, updatesPrefix, s.all[s.off[first]:s.off[end]-1], updatesSuffix)
}

// waitOutcome is how a waiting getUpdates ended.
type waitOutcome uint8

const (
	waitAnswer  waitOutcome = iota // updates came or the timeout passed: answer the batch
	waitGone                       // the client closed the connection or the server closed
	waitOther                      // a newer getUpdates ended this one
	waitWebhook                    // a webhook was set meanwhile
)

// waitLocked waits, s.mu held on entry, until updates are released, the
// timeout passes, a newer getUpdates or a webhook ends this call, the
// client closes the connection or the server closes. With waitAnswer it
// returns with s.mu held and the batch to answer; otherwise without s.mu.
func (s *Server) waitLocked(c *conn, limit int, timeout time.Duration) (first, end int, out waitOutcome) {
	if c.poll == nil {
		c.poll = &poller{ch: make(chan struct{}, 1)}
	}
	me := c.poll
	me.conflict = false
	select {
	case <-me.ch:
	default:
	}
	s.poller = me
	s.n.pollsWaiting.Add(1)
	s.notifyLocked()
	s.mu.Unlock()

	watch := c.startWatch()
	watching := watch != nil
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	expired, gone := false, false
	for {
		select {
		case <-me.ch:
		case <-timer.C:
			expired = true
		case err := <-watch:
			watching, watch = false, nil
			// nil: the client sent more while waiting; keep waiting, unwatched
			gone = err != nil
		case <-s.done:
			gone = true
		}
		s.mu.Lock()
		if me.conflict || gone || s.hook != nil {
			break
		}
		if first, end = s.batchLocked(limit); first < end || expired {
			break
		}
		s.mu.Unlock()
	}
	// s.mu held.
	if s.poller == me {
		s.poller = nil
	}
	s.n.pollsWaiting.Add(-1)
	s.notifyLocked()
	switch {
	case gone:
		out = waitGone
	case me.conflict:
		out = waitOther
	case s.hook != nil:
		out = waitWebhook
	}
	if !watching {
		if out != waitAnswer {
			s.mu.Unlock()
		}
		return first, end, out
	}
	s.mu.Unlock()
	if c.stopWatch() != nil {
		return 0, 0, waitGone // do not count the batch as sent
	}
	if out != waitAnswer {
		return 0, 0, out
	}
	s.mu.Lock()
	first, end = s.batchLocked(limit) // may have grown meanwhile
	return first, end, waitAnswer
}

// confirmLocked applies a getUpdates offset: a positive one confirms every
// released update below it, a negative one every update but the last
// -offset released. s.mu held.
func (s *Server) confirmLocked(offset int64) {
	var upto int
	switch {
	case offset > 0:
		upto = int(clamp(offset-s.cfg.FirstUpdateID, 0, int64(s.released)))
	case offset < 0:
		upto = int(clamp(int64(s.released)+offset, 0, int64(s.released)))
	default:
		return
	}
	changed := false
	for i := s.head; i < upto; i++ {
		if s.state[i]&stDone == 0 {
			s.state[i] |= stDone
			s.confirmed++
			changed = true
		}
	}
	s.head = max(s.head, upto)
	if changed {
		s.notifyLocked()
	}
}

// batchLocked returns the oldest unconfirmed released updates, up to
// limit and consecutive: [first, end). s.mu held.
func (s *Server) batchLocked(limit int) (first, end int) {
	for s.head < s.released && s.state[s.head]&stDone != 0 {
		s.head++
	}
	first, end = s.head, s.head
	for end < s.released && end-first < limit && s.state[end]&stDone == 0 {
		end++
	}
	return first, end
}

// markSentLocked counts updates [first, end) as delivered, or redelivered
// when they were sent before. s.mu held.
func (s *Server) markSentLocked(first, end int) {
	for i := first; i < end; i++ {
		if s.state[i]&stSent != 0 {
			s.redelivered++
		} else {
			s.state[i] |= stSent
			s.delivered++
		}
	}
}

func (s *Server) setWebhook(c *conn) {
	s.n.setWebhook.Add(1)
	raw, _, err := c.req.str("url")
	if err != nil {
		c.badParam(err)
		return
	}
	if raw == "" { // Telegram: an empty url removes the webhook
		s.deleteWebhook(c)
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		c.apiError(http.StatusBadRequest, "Bad Request: bad webhook: fakeapi delivers to http://host:port/path URLs only")
		return
	}
	secret, _, err := c.req.str("secret_token")
	if err == nil && !validSecret(secret) {
		err = &httpError{http.StatusBadRequest, "Bad Request: bad webhook: secret token contains unallowed characters"}
	}
	if err != nil {
		c.badParam(err)
		return
	}
	conns, ok, err := c.req.int("max_connections")
	if err != nil {
		c.badParam(err)
		return
	}
	if !ok || conns == 0 {
		conns = int64(s.cfg.WebhookConns)
	}
	h := newWebhook(s, u, secret, int(clamp(conns, 1, 100)))
	if c.req.bool("drop_pending_updates") {
		s.dropPending()
	}
	if !s.installHook(h) {
		c.closing = true // closed meanwhile
		return
	}
	c.writeJSON(http.StatusOK, s.resp.ok)
}

// validSecret reports whether secret is allowed by Telegram: 0–256 of
// A-Z, a-z, 0-9, _ and -.
func validSecret(secret string) bool {
	if len(secret) > 256 {
		return false
	}
	for _, ch := range []byte(secret) {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

func (s *Server) deleteWebhook(c *conn) {
	s.n.deleteWebhook.Add(1)
	s.mu.Lock()
	h := s.hook
	s.hook = nil
	s.notifyLocked()
	s.mu.Unlock()
	if h != nil {
		h.stop(s)
	}
	if c.req.bool("drop_pending_updates") {
		s.dropPending()
	}
	c.writeJSON(http.StatusOK, s.resp.ok)
}

// dropPending confirms every released update (drop_pending_updates).
func (s *Server) dropPending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.confirmLocked(s.cfg.FirstUpdateID + int64(s.released))
}

func (s *Server) getWebhookInfo(c *conn) {
	s.n.getWebhook.Add(1)
	type info struct {
		URL                  string `json:"url"`
		HasCustomCertificate bool   `json:"has_custom_certificate"`
		PendingUpdateCount   int64  `json:"pending_update_count"`
		MaxConnections       int    `json:"max_connections,omitempty"`
	}
	var in info
	s.mu.Lock()
	if h := s.hook; h != nil {
		in.URL, in.MaxConnections = h.url, h.conns
	}
	in.PendingUpdateCount = int64(s.released) - s.confirmed
	s.mu.Unlock()
	b, _ := json.Marshal(struct {
		OK     bool `json:"ok"`
		Result info `json:"result"`
	}{true, in})
	c.writeJSON(http.StatusOK, b)
}
