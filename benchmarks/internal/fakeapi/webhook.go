package fakeapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// webhook delivers released, unconfirmed updates to a URL. Each chat is a
// lane: the chat's next update is in flight or waiting in the ready FIFO,
// never two at once. Update i belongs to chat i%Chats, so a lane is just
// the index of its next update. Fields without a note are guarded by
// Server.mu.
type webhook struct {
	url    string // as registered, for getWebhookInfo
	addr   string // host:port to dial (immutable)
	prefix []byte // request line and headers up to "Content-Length: " (immutable)
	conns  int    // connections (workers), immutable

	cond    *sync.Cond // on Server.mu: workers wait for a ready lane or the stop
	stopped bool
	next    []int   // per chat: the index of its next update to deliver
	busy    []bool  // per chat: an update is in flight
	queued  []bool  // per chat: in ready
	ready   []int32 // ring of chats with a deliverable update
	rhead   int
	rlen    int
	open    map[net.Conn]struct{} // the workers' connections, closed by stop

	ctx    context.Context // ends dials and backoffs at stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // the workers
}

func newWebhook(s *Server, u *url.URL, secret string, conns int) *webhook {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	p := "POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/json\r\n"
	if secret != "" {
		p += "X-Telegram-Bot-Api-Secret-Token: " + secret + "\r\n"
	}
	chats := s.cfg.Chats
	h := &webhook{
		url: u.String(), addr: host, prefix: []byte(p + "Content-Length: "), conns: conns,
		cond: sync.NewCond(&s.mu), next: make([]int, chats), busy: make([]bool, chats),
		queued: make([]bool, chats), ready: make([]int32, chats), open: make(map[net.Conn]struct{}),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

// installHook replaces the server's webhook with h and starts its workers;
// false when the server is closed.
func (s *Server) installHook(h *webhook) bool {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		h.cancel()
		return false
	default:
	}
	old := s.hook
	s.hook = h
	// Lanes start at each chat's oldest unconfirmed update.
	chats := s.cfg.Chats
	for c := range chats {
		i := s.head + (c-s.head%chats+chats)%chats
		for i < len(s.state) && s.state[i]&stDone != 0 {
			i += chats
		}
		h.next[c] = i
	}
	h.refill(s)
	if s.poller != nil {
		s.poller.wake() // it answers 409
	}
	s.wg.Add(h.conns)
	h.wg.Add(h.conns)
	for range h.conns {
		go h.work(s)
	}
	s.notifyLocked()
	s.mu.Unlock()
	if old != nil {
		old.stop(s)
	}
	return true
}

// refill queues every idle chat that has a released update to deliver.
// Server.mu held.
func (h *webhook) refill(s *Server) {
	queued := false
	for c, i := range h.next {
		if !h.busy[c] && !h.queued[c] && i < s.released {
			h.push(c)
			queued = true
		}
	}
	if queued {
		h.cond.Broadcast()
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

// stop ends the deliveries: in-flight ones are cut (their updates stay
// unconfirmed) and every worker has returned when stop returns.
func (h *webhook) stop(s *Server) {
	s.mu.Lock()
	h.stopped = true
	for nc := range h.open {
		nc.Close()
	}
	h.cond.Broadcast()
	s.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// work delivers one lane's update at a time until the webhook stops.
func (h *webhook) work(s *Server) {
	defer s.wg.Done()
	defer h.wg.Done()
	hc := hookConn{h: h, s: s}
	defer hc.drop()
	for {
		s.mu.Lock()
		for !h.stopped && h.rlen == 0 {
			h.cond.Wait()
		}
		if h.stopped {
			s.mu.Unlock()
			return
		}
		chat := h.pop()
		h.busy[chat] = true
		i := h.next[chat]
		s.markSentLocked(i, i+1)
		s.mu.Unlock()

		for attempt := 0; ; attempt++ {
			code, err := hc.post(s.Update(i))
			if err == nil {
				s.n.hookPosts.Add(1)
				if code/100 == 2 {
					break
				}
			}
			s.n.hookFailures.Add(1)
			if !h.sleep(backoff(attempt)) {
				return
			}
			s.mu.Lock()
			s.markSentLocked(i, i+1) // counted as redelivered
			s.mu.Unlock()
		}

		s.mu.Lock()
		if s.state[i]&stDone == 0 {
			s.state[i] |= stDone
			s.confirmed++
		}
		h.busy[chat] = false
		n := i + s.cfg.Chats
		for n < len(s.state) && s.state[n]&stDone != 0 {
			n += s.cfg.Chats
		}
		h.next[chat] = n
		if n < s.released && !h.stopped {
			h.push(chat)
			h.cond.Signal()
		}
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// backoff is the wait before the attempt after attempt (0-based) failed:
// 50 ms doubling up to 2 s.
func backoff(attempt int) time.Duration {
	return min(2*time.Second, 50*time.Millisecond<<min(attempt, 6))
}

// sleep waits d; false when the webhook stopped first.
func (h *webhook) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// hookConn is a worker's keep-alive connection to the webhook.
type hookConn struct {
	h    *webhook
	s    *Server
	nc   net.Conn
	br   *bufio.Reader
	head head
	req  []byte
	bufs [2][]byte
}

// post sends body and returns the answer's status code. The answer's body
// is read and discarded; the connection is dropped after an error or an
// answer that closes it.
func (hc *hookConn) post(body []byte) (int, error) {
	if hc.nc == nil {
		if err := hc.dial(); err != nil {
			return 0, err
		}
	}
	b := append(hc.req[:0], hc.h.prefix...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	hc.req = append(b, "\r\n\r\n"...)
	nb := net.Buffers(append(hc.bufs[:0:len(hc.bufs)], hc.req, body))
	if _, err := nb.WriteTo(hc.nc); err != nil {
		hc.drop()
		return 0, err
	}
	code, err := readResponse(hc.br, &hc.head)
	if err != nil || hc.head.close {
		hc.drop()
	}
	return code, err
}

func (hc *hookConn) dial() error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(hc.h.ctx, 5*time.Second)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", hc.h.addr)
	if err != nil {
		return err
	}
	hc.s.mu.Lock()
	if hc.h.stopped {
		hc.s.mu.Unlock()
		nc.Close()
		return errors.New("fakeapi: webhook stopped")
	}
	hc.h.open[nc] = struct{}{}
	hc.s.mu.Unlock()
	hc.s.n.hookConns.Add(1)
	hc.nc = nc
	if hc.br == nil {
		hc.br = bufio.NewReaderSize(nc, maxLine)
	} else {
		hc.br.Reset(nc)
	}
	return nil
}

// drop closes the connection, if any.
func (hc *hookConn) drop() {
	if hc.nc == nil {
		return
	}
	hc.nc.Close()
	hc.s.mu.Lock()
	delete(hc.h.open, hc.nc)
	hc.s.mu.Unlock()
	hc.nc = nil
}

// readResponse reads an answer's status line and header fields into h and
// discards its body; 1xx answers are skipped.
func readResponse(br *bufio.Reader, h *head) (int, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = trimEOL(line)
		if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
			return 0, malformed("bad status line")
		}
		code, ok := parseUint(line[9:12])
		if !ok {
			return 0, malformed("bad status code")
		}
		if err := readHead(br, h); err != nil {
			return 0, err
		}
		if code < 200 {
			continue
		}
		if line[7] == '0' {
			h.close = true
		}
		switch {
		case code == http.StatusNoContent || code == http.StatusNotModified:
		case h.chunked:
			if _, err := readChunked(br, nil, 1<<30); err != nil {
				return 0, err
			}
		case h.length >= 0:
			if _, err := br.Discard(int(h.length)); err != nil {
				return 0, err
			}
		default: // the body runs to the end of the connection
			if _, err := io.Copy(io.Discard, br); err != nil {
				return 0, err
			}
			h.close = true
		}
		return int(code), nil
	}
}
