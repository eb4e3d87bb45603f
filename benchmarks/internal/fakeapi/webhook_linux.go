//go:build linux

package fakeapi

import (
	"bytes"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// webhook delivers released, unconfirmed updates to a URL over up to
// len(workers) connections. Each chat is a lane: the chat's next update
// is in flight or waiting in the ready FIFO, never two at once. Update i
// belongs to chat i%Chats, so a lane is just the index of its next update.
// Everything runs on the loop with Server.mu held.
type webhook struct {
	s       *Server
	url     string // as registered, for getWebhookInfo
	sa      syscall.Sockaddr
	family  int
	prefix  []byte // request line and headers up to "Content-Length: "
	workers []*hookConn
	free    []*hookConn
	// Lanes, by chat.
	next   []int
	busy   []bool
	queued []bool
	ready  []int32 // ring of chats with a deliverable update
	rhead  int
	rlen   int
	// seen is Server.released when the lanes were last refilled.
	seen     int
	backoffs int // workers waiting to retry
}

// newWebhook prepares a webhook for u; the host must be an IP address.
func newWebhook(s *Server, u *url.URL, secret string, conns int) (*webhook, error) {
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil, &httpError{code: http.StatusBadRequest, text: "Bad Request: bad webhook: fakeapi resolves no names, the host must be an IP address"}
	}
	port := 80
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, &httpError{code: http.StatusBadRequest, text: "Bad Request: bad webhook: bad port"}
		}
	}
	h := &webhook{s: s, url: u.String()}
	if ip.Is4() || ip.Is4In6() {
		h.sa, h.family = &syscall.SockaddrInet4{Port: port, Addr: ip.Unmap().As4()}, syscall.AF_INET
	} else {
		h.sa, h.family = &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}, syscall.AF_INET6
	}
	p := "POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/json\r\n"
	if secret != "" {
		p += "X-Telegram-Bot-Api-Secret-Token: " + secret + "\r\n"
	}
	h.prefix = []byte(p + "Content-Length: ")
	chats := s.cfg.Chats
	h.next, h.busy, h.queued, h.ready = make([]int, chats), make([]bool, chats), make([]bool, chats), make([]int32, chats)
	for range conns {
		w := &hookConn{h: h, l: s.lp, fd: -1}
		h.workers = append(h.workers, w)
		h.free = append(h.free, w)
	}
	return h, nil
}

// resetLanes starts each chat's lane at its oldest unconfirmed update;
// the next tick queues the lanes with released updates.
func (h *webhook) resetLanes() {
	s, chats := h.s, h.s.cfg.Chats
	for c := range chats {
		i := s.head + (c-s.head%chats+chats)%chats
		for i < len(s.state) && s.state[i]&stDone != 0 {
			i += chats
		}
		h.next[c] = i
	}
	h.seen = -1
}

// tick refills the lanes after a release, retries deliveries whose backoff
// passed and starts deliveries on free connections.
func (h *webhook) tick(now time.Time) {
	s := h.s
	if h.seen != s.released {
		h.seen = s.released
		for c, i := range h.next {
			if !h.busy[c] && !h.queued[c] && i < s.released {
				h.push(c)
			}
		}
	}
	if h.backoffs > 0 {
		for _, w := range h.workers {
			if w.state == hcBackoff && !now.Before(w.retryAt) {
				h.backoffs--
				s.markSentLocked(w.i, w.i+1) // counted as redelivered
				w.post()
			}
		}
	}
	for len(h.free) > 0 && h.rlen > 0 {
		w := h.free[len(h.free)-1]
		h.free = h.free[:len(h.free)-1]
		chat := h.pop()
		h.busy[chat] = true
		w.i, w.chat, w.attempt = h.next[chat], chat, 0
		s.markSentLocked(w.i, w.i+1)
		w.post()
	}
}

func (h *webhook) push(chat int) {
	h.queued[chat] = true
	h.ready[(h.rhead+h.rlen)%len(h.ready)] = int32(chat)
	h.rlen++
}

func (h *webhook) pop() int {
	chat := int(h.ready[h.rhead])
	h.rhead = (h.rhead + 1) % len(h.ready)
	h.rlen--
	h.queued[chat] = false
	return chat
}

// stop closes every connection; updates in flight stay unconfirmed.
func (h *webhook) stop() {
	for _, w := range h.workers {
		w.dropConn()
		w.state = hcStopped
	}
}

// hookConn states.
const (
	hcFree       = iota // no update; the connection, if any, is idle
	hcConnecting        // connect in progress, update w.i waits
	hcSending           // the request is being written
	hcReading           // the answer is being read
	hcBackoff           // update w.i waits for retryAt
	hcStopped           // the webhook was removed
)

// hookConn is one delivery connection and the update it carries.
type hookConn struct {
	h       *webhook
	l       *loop
	fd      int // -1: not connected
	state   int
	i, chat int // the update in flight and its chat
	attempt int
	retryAt time.Time
	outOn   bool
	head    []byte
	out     [][]byte
	in      []byte
	rh      head
}

// post sends update w.i, connecting first if needed.
func (w *hookConn) post() {
	if w.fd >= 0 {
		w.send()
		return
	}
	fd, err := syscall.Socket(w.h.family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		w.failed(false)
		return
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	err = syscall.Connect(fd, w.h.sa)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		w.failed(false)
		return
	}
	if err := w.l.add(fd, w, evIn|evOut); err != nil {
		syscall.Close(fd)
		w.failed(false)
		return
	}
	w.fd, w.outOn, w.state = fd, true, hcConnecting
	w.h.s.n.hookConns.Add(1)
}

// send writes the request for update w.i.
func (w *hookConn) send() {
	body := w.h.s.Update(w.i)
	b := append(w.head[:0], w.h.prefix...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	w.head = append(b, "\r\n\r\n"...)
	w.out = append(append(w.out[:0], w.head), body)
	w.in = w.in[:0]
	w.state = hcSending
	w.flush()
}

func (w *hookConn) flush() {
	for len(w.out) > 0 {
		n, err := w.l.writev(w.fd, w.out)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			if !w.outOn {
				w.outOn = true
				w.l.watch(w.fd, evIn|evOut)
			}
			return
		}
		if err != nil {
			w.failed(false)
			return
		}
		w.out = consume(w.out, n)
	}
	if w.outOn {
		w.outOn = false
		w.l.watch(w.fd, evIn)
	}
	w.state = hcReading
}

func (w *hookConn) onEvent(ev uint32) {
	switch w.state {
	case hcConnecting:
		if ev&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
			return
		}
		if e, err := syscall.GetsockoptInt(w.fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err != nil || e != 0 {
			w.failed(false)
			return
		}
		w.outOn = true // still registered for EPOLLOUT: flush turns it off
		w.send()
	case hcSending:
		if ev&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
			w.flush()
		}
	case hcReading:
		w.read()
	default: // idle: the server closed the connection (or sent what was not asked for)
		if ev&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			w.dropConn()
		}
	}
}

// read reads the answer and, once it is whole, finishes the delivery.
func (w *hookConn) read() {
	if len(w.in) == cap(w.in) {
		w.in = append(w.in, make([]byte, max(4096, cap(w.in)))...)[:len(w.in)]
	}
	n, err := syscall.Read(w.fd, w.in[len(w.in):cap(w.in)])
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	eof := n <= 0
	if !eof {
		w.in = w.in[:len(w.in)+n]
	}
	code, done, err := w.parse(eof)
	switch {
	case err != nil || (eof && !done):
		w.failed(false)
	case done && code/100 == 2:
		w.delivered()
	case done:
		w.failed(true)
	case len(w.in) > 1<<20:
		w.failed(false) // an answer that large is not worth reading
	}
}

// parse looks at the answer read so far: its status code, whether it is
// complete (through its body) and whether it is malformed. eof means the
// server closed the connection.
func (w *hookConn) parse(eof bool) (code int, done bool, err error) {
	b := w.in
	for {
		i := bytes.Index(b, headEnd)
		if i < 0 {
			return 0, false, nil
		}
		line, fields, _ := bytes.Cut(b[:i+2], crlf)
		if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
			return 0, false, malformed("bad status line")
		}
		c, ok := parseUint(line[9:12])
		if !ok {
			return 0, false, malformed("bad status code")
		}
		if err := parseHead(trimEOL(fields), &w.rh); err != nil {
			return 0, false, err
		}
		if line[7] == '0' {
			w.rh.close = true
		}
		b = b[i+4:]
		code = int(c)
		if code < 200 { // 100 Continue and the like: the answer follows
			continue
		}
		switch {
		case code == http.StatusNoContent || code == http.StatusNotModified:
		case w.rh.chunked:
			_, n, complete, err := dechunk(b, nil, 1<<20)
			if err != nil || !complete {
				return code, false, err
			}
			b = b[n:]
		case w.rh.length >= 0:
			if int64(len(b)) < w.rh.length {
				return code, false, nil
			}
			b = b[w.rh.length:]
		default: // the body runs to the end of the connection
			if !eof {
				return code, false, nil
			}
			w.rh.close, b = true, nil
		}
		if len(b) > 0 { // more than was asked for
			w.rh.close = true
		}
		return code, true, nil
	}
}

// delivered confirms update w.i and frees the connection.
func (w *hookConn) delivered() {
	h, s := w.h, w.h.s
	s.n.hookPosts.Add(1)
	if w.rh.close {
		w.dropConn()
	}
	if s.state[w.i]&stDone == 0 {
		s.state[w.i] |= stDone
		s.confirmed++
	}
	h.busy[w.chat] = false
	n := w.i + s.cfg.Chats
	for n < len(s.state) && s.state[n]&stDone != 0 {
		n += s.cfg.Chats
	}
	h.next[w.chat] = n
	if n < s.released {
		h.push(w.chat)
	}
	w.state = hcFree
	h.free = append(h.free, w)
	s.notifyLocked()
}

// failed schedules update w.i again after a backoff; answered tells
// whether the bot answered (not 2xx) or the connection failed.
func (w *hookConn) failed(answered bool) {
	s := w.h.s
	if answered {
		s.n.hookPosts.Add(1)
	}
	s.n.hookFailures.Add(1)
	if !answered || w.rh.close {
		w.dropConn()
	}
	w.state, w.retryAt = hcBackoff, time.Now().Add(backoff(w.attempt))
	w.attempt++
	w.h.backoffs++
	s.notifyLocked()
}

// dropConn closes the connection, if any.
func (w *hookConn) dropConn() {
	if w.fd >= 0 {
		w.l.drop(w.fd)
		w.fd, w.outOn = -1, false
	}
}

// backoff is the wait before the attempt after attempt (0-based) failed:
// 50 ms doubling up to 2 s.
func backoff(attempt int) time.Duration {
	return min(2*time.Second, 50*time.Millisecond<<min(attempt, 6))
}
