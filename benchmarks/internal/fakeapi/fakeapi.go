// Package fakeapi is a cheap fake of the Telegram Bot API for throughput
// benchmarks: an HTTP/1.1 server on 127.0.0.1 whose own cost per update is
// small against any bot's, so that a benchmark measures the bot and not
// the server.
//
// It holds a queue of Config.Updates text messages spread round-robin over
// Config.Chats private chats (update_ids increasing by one), each encoded
// once, in New, into one buffer. Config.Released of them are visible at
// first; Release makes more visible. It serves, at /bot<token>/<method>:
//
//   - getUpdates with Telegram's semantics: a positive offset confirms
//     every update below it, a negative one keeps only the last -offset;
//     up to limit (clamped to 1–100, default 100) of the oldest unconfirmed
//     updates are answered, as the pre-encoded bytes of consecutive updates
//     written out as they are (no encoding per call); with none, the call
//     waits up to timeout (clamped to 0–50 s) and returns as soon as one is
//     released. An update sent again because it was not confirmed is
//     counted (Stats.Redelivered). A second getUpdates while one waits ends
//     the first with 409 "Conflict: terminated by other getUpdates
//     request", and getUpdates answers 409 while a webhook is set, as
//     Telegram does.
//   - sendMessage: counted per chat_id (found by a byte search, not
//     decoded) and answered with one fixed, pre-encoded Message; a missing
//     or non-numeric chat_id, a chat outside the fake's chats or a missing
//     text is answered 400.
//   - getMe (a fixed bot whose id is the token's number), setWebhook,
//     deleteWebhook and getWebhookInfo.
//
// Any other method is answered 404, a wrong token 401, a malformed HTTP
// request 400 (and the connection closed), a body above Config.MaxBody 413.
//
// # Parameters
//
// Parameters are read from the URL query and from a JSON,
// form-urlencoded or multipart/form-data body without decoding it: a value
// is found by searching for its key (`"chat_id":` in JSON, `chat_id=` in
// a form, `name="chat_id"` in multipart). This is what keeps the fake
// cheap, and its limit: a JSON string value that itself contains the text
// `"chat_id":` would be mistaken for the parameter. The benchmarks' bots
// send fixed texts, so it does not arise there.
//
// # Webhook
//
// After setWebhook (url, secret_token, max_connections, default
// Config.WebhookConns), the fake POSTs every released, unconfirmed update
// to url over up to max_connections keep-alive connections, one update in
// flight per chat (a chat's updates arrive in order), with the
// X-Telegram-Bot-Api-Secret-Token header. A 2xx answer confirms the
// update; anything else, or a connection error, sends it again after a
// backoff (50 ms doubling to 2 s; counted in Stats.Redelivered and
// Stats.HookFailures). The url's host must be an IP address (no name is
// resolved) and its scheme http. There is no timeout on a delivery: a bot
// that never answers holds that connection until deleteWebhook or Close.
//
// # Cost, and how to measure it
//
// All of the server runs on one goroutine: an epoll loop (Linux only; New
// fails elsewhere) over the listening socket, every connection and a wake
// pipe, so that serving a request costs a read, a header scan and one
// write of pre-encoded bytes (a getUpdates answer is one writev of the
// updates' slice of the buffer), with no goroutine switch and no other
// thread woken. The loop blocks in epoll_pwait as a raw system call when
// GOMAXPROCS > 1, keeping its P: the runtime's sysmon then stays idle
// instead of retaking the P and waking every 20 µs. Inside one process the
// server's CPU time cannot be told apart from its caller's: run it in a
// process of its own and read that process's rusage, as cmd/compare does.
//
// # Lifetime
//
// A Server owns its sockets and its goroutine. Close ends every
// connection, a waiting getUpdates and the webhook's deliveries, and
// returns once the goroutine has returned. Idle keep-alive connections
// are kept until the client closes them or Close; there are no read
// timeouts (a benchmark's clients are trusted). Nothing listens beyond
// 127.0.0.1.
package fakeapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Config describes a fake server.
type Config struct {
	// Token is the bot token; methods are served at /bot<Token>/<method>.
	// The digits before its colon are the bot's id in getMe.
	Token string `json:"token"`
	// Updates is how many updates are encoded in New (at least 1).
	Updates int `json:"updates"`
	// Chats spreads them round-robin: update i comes from the private chat
	// FirstChatID + i%Chats (default 1000).
	Chats int `json:"chats,omitempty"`
	// FirstChatID is the id of the first chat (default 100000).
	FirstChatID int64 `json:"first_chat_id,omitempty"`
	// FirstUpdateID is the update_id of the first update (default 1).
	FirstUpdateID int64 `json:"first_update_id,omitempty"`
	// Released is how many updates are visible when New returns.
	Released int `json:"released,omitempty"`
	// WebhookConns is how many connections a webhook is delivered on when
	// setWebhook has no max_connections (default 40, like Telegram).
	WebhookConns int `json:"webhook_conns,omitempty"`
	// MaxBody caps a request body in bytes (default 1 MiB); a larger one is
	// answered 413 without being read.
	MaxBody int `json:"max_body,omitempty"`
}

// ErrClosed is returned by Wait when the server was closed.
var ErrClosed = errors.New("fakeapi: server closed")

// Per-update state bits.
const (
	stSent uint8 = 1 << iota // sent at least once
	stDone                   // confirmed
)

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	url    string
	prefix string // "/bot<token>/"

	// Immutable after New.
	all  []byte // every update's JSON followed by a comma
	off  []int  // update i is all[off[i] : off[i+1]-1]
	resp fixedAnswers

	lp   *loop
	done chan struct{} // closed by Close
	once sync.Once

	replies []atomic.Int64 // per chat
	n       counters       // read by Stats without the lock

	// mu guards what follows; the loop holds it while it handles events.
	mu       sync.Mutex
	closing  bool
	released int
	head     int     // every update below head is confirmed
	state    []uint8 // per update
	poller   *conn   // the connection whose getUpdates waits, if any
	hook     *webhook
	changed  chan struct{} // closed on a change while someone waits
	// Stats.
	delivered, redelivered, confirmed int64
}

// counters are the atomic counters of the hot paths.
type counters struct {
	conns                                 atomic.Int64
	getUpdates, sendMessage, getMe        atomic.Int64
	setWebhook, deleteWebhook, getWebhook atomic.Int64
	unknown, badRequests, conflicts       atomic.Int64
	hookPosts, hookFailures, hookConns    atomic.Int64
	pollWaiting                           atomic.Bool
	lastUnknown                           atomic.Pointer[string]
}

// Stats is a snapshot of what the server did.
type Stats struct {
	// ConnsAccepted counts the TCP connections the server accepted.
	ConnsAccepted int64 `json:"conns_accepted"`
	// Calls per method; Unknown counts the methods the fake does not
	// implement (answered 404), LastUnknown names the latest.
	GetUpdates     int64  `json:"get_updates"`
	SendMessage    int64  `json:"send_message"`
	GetMe          int64  `json:"get_me"`
	SetWebhook     int64  `json:"set_webhook"`
	DeleteWebhook  int64  `json:"delete_webhook"`
	GetWebhookInfo int64  `json:"get_webhook_info"`
	Unknown        int64  `json:"unknown"`
	LastUnknown    string `json:"last_unknown,omitempty"`
	// BadRequests counts the requests answered 400, 401, 404, 405, 413 or
	// 431; Conflicts those answered 409.
	BadRequests int64 `json:"bad_requests"`
	Conflicts   int64 `json:"conflicts"`
	// Released updates are visible; Delivered were sent at least once (by
	// getUpdates or the webhook); Redelivered counts the times one was sent
	// again because it was not confirmed; Confirmed were confirmed (by an
	// offset, a negative offset or a 2xx webhook answer); Pending are
	// released and not confirmed.
	Released    int64 `json:"released"`
	Delivered   int64 `json:"delivered"`
	Redelivered int64 `json:"redelivered"`
	Confirmed   int64 `json:"confirmed"`
	Pending     int64 `json:"pending"`
	// PollWaiting is true while a getUpdates call waits for updates.
	PollWaiting bool `json:"poll_waiting"`
	// Replies counts the sendMessage calls answered ok (a chat outside the
	// fake's is answered 400 and counted in BadRequests). ChatsShort and
	// ChatsOver count the chats that got fewer or more replies than
	// updates released in them.
	Replies    int64 `json:"replies"`
	ChatsShort int   `json:"chats_short"`
	ChatsOver  int   `json:"chats_over"`
	// Webhook: HookPosts counts the POSTs answered (any status),
	// HookFailures those that were not 2xx or failed, HookConns the
	// connections dialled. Webhook is true while one is set.
	HookPosts    int64 `json:"hook_posts"`
	HookFailures int64 `json:"hook_failures"`
	HookConns    int64 `json:"hook_conns"`
	Webhook      bool  `json:"webhook"`
}

// New encodes cfg.Updates updates and starts serving on 127.0.0.1 on a
// port of the system's choice. Close releases it.
func New(cfg Config) (*Server, error) {
	if cfg.Token == "" || strings.ContainsAny(cfg.Token, "/?# ") {
		return nil, fmt.Errorf("fakeapi: token %q is empty or holds / ? # or a space", cfg.Token)
	}
	if cfg.Updates < 1 {
		return nil, fmt.Errorf("fakeapi: %d updates, need at least 1", cfg.Updates)
	}
	if cfg.Released < 0 || cfg.Released > cfg.Updates {
		return nil, fmt.Errorf("fakeapi: %d released of %d updates", cfg.Released, cfg.Updates)
	}
	if cfg.Chats == 0 {
		cfg.Chats = 1000
	}
	if cfg.Chats < 0 {
		return nil, fmt.Errorf("fakeapi: %d chats", cfg.Chats)
	}
	if cfg.FirstChatID == 0 {
		cfg.FirstChatID = 100_000
	}
	if cfg.FirstUpdateID == 0 {
		cfg.FirstUpdateID = 1
	}
	if cfg.WebhookConns == 0 {
		cfg.WebhookConns = 40
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.FirstUpdateID < 1 || cfg.FirstChatID < 1 || cfg.WebhookConns < 1 || cfg.MaxBody < 1 {
		return nil, fmt.Errorf("fakeapi: first_update_id, first_chat_id, webhook_conns and max_body must be positive: %+v", cfg)
	}
	s := &Server{
		cfg:      cfg,
		prefix:   "/bot" + cfg.Token + "/",
		done:     make(chan struct{}),
		replies:  make([]atomic.Int64, cfg.Chats),
		released: cfg.Released,
		state:    make([]uint8, cfg.Updates),
	}
	s.encodeUpdates()
	s.resp = newFixedAnswers(botID(cfg.Token), cfg.FirstChatID)
	lp, addr, err := startLoop(s)
	if err != nil {
		return nil, fmt.Errorf("fakeapi: %w", err)
	}
	s.lp, s.url = lp, "http://"+addr
	return s, nil
}

// botID is the number before the token's colon (0 if there is none).
func botID(token string) int64 {
	id, _, _ := strings.Cut(token, ":")
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// encodeUpdates writes every update once, each followed by a comma, so
// that consecutive updates are one slice of s.all.
func (s *Server) encodeUpdates() {
	n := s.cfg.Updates
	s.all = make([]byte, 0, n*240)
	s.off = make([]int, n+1)
	for i := range n {
		s.off[i] = len(s.all)
		id := s.cfg.FirstUpdateID + int64(i)
		chat := s.ChatID(i)
		b := s.all
		b = append(b, `{"update_id":`...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, `,"message":{"message_id":`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `,"date":1700000000,"chat":{"id":`...)
		b = strconv.AppendInt(b, chat, 10)
		b = append(b, `,"type":"private","first_name":"x"},"from":{"id":`...)
		b = strconv.AppendInt(b, chat, 10)
		b = append(b, `,"is_bot":false,"first_name":"x"},"text":"hello `...)
		b = strconv.AppendInt(b, int64(i), 10)
		s.all = append(b, `"}},`...)
	}
	s.off[n] = len(s.all)
}

// ChatID is the chat of update i (0 ≤ i < Config.Updates).
func (s *Server) ChatID(i int) int64 { return s.cfg.FirstChatID + int64(i%s.cfg.Chats) }

// UpdateID is the update_id of update i.
func (s *Server) UpdateID(i int) int64 { return s.cfg.FirstUpdateID + int64(i) }

// Update returns the encoded JSON of update i. The slice must not be
// modified.
func (s *Server) Update(i int) []byte { return s.all[s.off[i] : s.off[i+1]-1 : s.off[i+1]-1] }

// URL is the base URL of the Bot API ("http://127.0.0.1:port").
func (s *Server) URL() string { return s.url }

// Config returns the configuration in effect (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Release makes the next n updates visible (fewer if the queue holds
// fewer) and returns how many are visible in all. A waiting getUpdates
// returns them at once; a webhook starts delivering them.
func (s *Server) Release(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		return s.released
	}
	s.released = min(s.cfg.Updates, s.released+n)
	s.notifyLocked()
	s.lp.wake() // the loop answers a waiting getUpdates, the webhook delivers
	return s.released
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		ConnsAccepted:  s.n.conns.Load(),
		GetUpdates:     s.n.getUpdates.Load(),
		SendMessage:    s.n.sendMessage.Load(),
		GetMe:          s.n.getMe.Load(),
		SetWebhook:     s.n.setWebhook.Load(),
		DeleteWebhook:  s.n.deleteWebhook.Load(),
		GetWebhookInfo: s.n.getWebhook.Load(),
		Unknown:        s.n.unknown.Load(),
		BadRequests:    s.n.badRequests.Load(),
		Conflicts:      s.n.conflicts.Load(),
		HookPosts:      s.n.hookPosts.Load(),
		HookFailures:   s.n.hookFailures.Load(),
		HookConns:      s.n.hookConns.Load(),
		PollWaiting:    s.n.pollWaiting.Load(),
	}
	if p := s.n.lastUnknown.Load(); p != nil {
		st.LastUnknown = *p
	}
	s.mu.Lock()
	released := s.released
	st.Released, st.Delivered, st.Redelivered, st.Confirmed = int64(released), s.delivered, s.redelivered, s.confirmed
	st.Webhook = s.hook != nil
	s.mu.Unlock()
	st.Pending = st.Released - st.Confirmed
	chats := s.cfg.Chats
	for c := range s.replies {
		got := s.replies[c].Load()
		st.Replies += got
		want := int64(released / chats)
		if c < released%chats {
			want++
		}
		switch {
		case got < want:
			st.ChatsShort++
		case got > want:
			st.ChatsOver++
		}
	}
	return st
}

// Wait returns when cond holds for the server's Stats, checked at once and
// after every change (a release, a confirmation, a reply, a poll starting
// or ending to wait, a webhook delivery), or with ctx's error, or ErrClosed.
func (s *Server) Wait(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		if cond(s.Stats()) { // after taking ch: a change from now on closes it
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		}
	}
}

// notifyLocked wakes the Wait calls. s.mu held.
func (s *Server) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// Close stops the server: the listener, every connection, a waiting
// getUpdates and the webhook's deliveries end, and Close returns once the
// server's goroutine has returned. It is safe to call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.lp.wake()
	})
	<-s.lp.done
	return nil
}
