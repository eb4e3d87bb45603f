//go:build linux

package fakeapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// The methods run on the loop with Server.mu held.

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
		s.n.deleteWebhook.Add(1)
		s.removeWebhook(c.req.bool("drop_pending_updates"))
		c.writeJSON(http.StatusOK, s.resp.ok)
	case foldEq(name, "getWebhookInfo"):
		s.getWebhookInfo(c)
	default:
		s.n.unknown.Add(1)
		m := string(name)
		s.n.lastUnknown.Store(&m)
		c.apiError(http.StatusNotFound, "Not Found: method "+m+" is not implemented by fakeapi")
	}
}

// badParam answers a parameter's error.
func (c *conn) badParam(err error) {
	if he, ok := err.(*httpError); ok {
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
	s.notifyLocked()
	c.writeJSON(http.StatusOK, s.resp.message)
}

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
	if s.hook != nil {
		c.apiError(http.StatusConflict, descWebhookActive)
		return
	}
	if p := s.poller; p != nil { // Telegram ends the older call
		p.unpark()
		p.apiError(http.StatusConflict, descOtherPoller)
		c.l.later = append(c.l.later, p) // what it sent after the poll: served at the tick
	}
	s.confirmLocked(offset)
	first, end := s.batchLocked(int(limit))
	if first == end && timeout > 0 {
		c.park(int(limit), time.Duration(timeout)*time.Second)
		return
	}
	s.answerUpdates(c, first, end)
}

// answerUpdates answers getUpdates with updates [first, end).
func (s *Server) answerUpdates(c *conn, first, end int) {
	s.markSentLocked(first, end)
	if first == end {
		c.writeJSON(http.StatusOK, noUpdates)
		return
	}
	// The updates are consecutive in s.all, commas included: one slice.
	c.writeParts(http.StatusOK, updatesPrefix, s.all[s.off[first]:s.off[end]-1], updatesSuffix)
}

func (s *Server) setWebhook(c *conn) {
	s.n.setWebhook.Add(1)
	raw, _, err := c.req.str("url")
	if err != nil {
		c.badParam(err)
		return
	}
	if raw == "" { // Telegram: an empty url removes the webhook
		s.removeWebhook(c.req.bool("drop_pending_updates"))
		c.writeJSON(http.StatusOK, s.resp.ok)
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		c.apiError(http.StatusBadRequest, "Bad Request: bad webhook: fakeapi delivers to http://host:port/path URLs only")
		return
	}
	secret, _, err := c.req.str("secret_token")
	if err == nil && !validSecret(secret) {
		err = &httpError{code: http.StatusBadRequest, text: "Bad Request: bad webhook: secret token contains unallowed characters"}
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
	h, err := newWebhook(s, u, secret, int(clamp(conns, 1, 100)))
	if err != nil {
		c.badParam(err)
		return
	}
	s.removeWebhook(c.req.bool("drop_pending_updates"))
	h.resetLanes()
	s.hook = h // the loop's tick starts the deliveries and ends a waiting getUpdates
	s.notifyLocked()
	c.writeJSON(http.StatusOK, s.resp.ok)
}

// removeWebhook stops the webhook, if any, and with drop confirms every
// released update.
func (s *Server) removeWebhook(drop bool) {
	if s.hook != nil {
		s.hook.stop()
		s.hook = nil
		s.notifyLocked()
	}
	if drop {
		s.confirmLocked(s.cfg.FirstUpdateID + int64(s.released))
	}
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
	if h := s.hook; h != nil {
		in.URL, in.MaxConnections = h.url, len(h.workers)
	}
	in.PendingUpdateCount = int64(s.released) - s.confirmed
	b, _ := json.Marshal(struct {
		OK     bool `json:"ok"`
		Result info `json:"result"`
	}{true, in})
	c.writeJSON(http.StatusOK, b)
}
