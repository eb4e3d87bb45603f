package fakeapi

import "fmt"

// Telegram's wording of the two getUpdates conflicts.
const (
	descOtherPoller   = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	descWebhookActive = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)

// maxPollTimeout is Telegram's limit on a long poll's timeout (s).
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
	noUpdates     = []byte(`{"ok":true,"result":[]}`)
)

func clamp(v, lo, hi int64) int64 { return max(lo, min(hi, v)) }

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
