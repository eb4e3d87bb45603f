package tgtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// webhook delivers pending updates by POSTing them to url. Updates of one
// chat form a lane: at most one update of a lane is in flight, so a chat's
// updates arrive in order; at most maxConn deliveries run at once. Its
// fields are guarded by Server.mu unless noted.
type webhook struct {
	url      string
	secret   string
	maxConn  int
	ipAddr   string
	lanes    map[int64]*lane
	ready    []*lane // lanes with an update and nothing in flight, FIFO
	delayed  []*lane // lanes waiting for their backoff to pass
	inflight int
	errDate  int64
	errMsg   string

	signal chan struct{} // wakes the dispatcher
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the dispatcher and every delivery
	client *http.Client
}

type lane struct {
	key       int64
	q         []*pendingUpdate
	busy      bool
	queued    bool // in ready or delayed
	attempts  int
	notBefore time.Time
}

var secretRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

type setWebhookParams struct {
	URL                strParam  `json:"url"`
	MaxConnections     intParam  `json:"max_connections"`
	SecretToken        strParam  `json:"secret_token"`
	IPAddress          strParam  `json:"ip_address"`
	DropPendingUpdates bool      `json:"drop_pending_updates"`
	AllowedUpdates     *[]string `json:"allowed_updates"`
}

func (s *Server) setWebhook(rq *request) (any, error) {
	var p setWebhookParams
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	if p.URL == "" {
		return s.removeWebhook(p.DropPendingUpdates), nil
	}
	u, err := url.Parse(string(p.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, badRequest("bad webhook: invalid webhook URL specified")
	}
	if p.SecretToken != "" && !secretRE.MatchString(string(p.SecretToken)) {
		return nil, badRequest("bad webhook: secret token contains unallowed characters")
	}
	maxConn := int(p.MaxConnections)
	if maxConn == 0 {
		maxConn = 40
	}
	maxConn = int(clamp(int64(maxConn), 1, 100))
	wh := &webhook{
		url: string(p.URL), secret: string(p.SecretToken), maxConn: maxConn, ipAddr: string(p.IPAddress),
		lanes: make(map[int64]*lane), signal: make(chan struct{}, 1),
	}
	wh.ctx, wh.cancel = context.WithCancel(context.Background())
	wh.client = &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxConnsPerHost:     maxConn,
		MaxIdleConnsPerHost: maxConn,
		IdleConnTimeout:     30 * time.Second,
	}}
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return nil, errClosing
	default:
	}
	if p.DropPendingUpdates {
		s.dropPending()
	}
	if p.AllowedUpdates != nil {
		s.setAllowed(*p.AllowedUpdates)
	}
	for _, u := range s.q.items[s.q.head:] {
		if !u.done {
			wh.add(u)
		}
	}
	old := s.wh
	s.wh = wh
	if s.poller != nil {
		s.poller.wake()
	}
	wh.wg.Add(1)
	s.mu.Unlock()
	go s.dispatch(wh)
	if old != nil {
		old.stop()
	}
	return true, nil
}

func (s *Server) deleteWebhook(rq *request) (any, error) {
	var p struct {
		DropPendingUpdates bool `json:"drop_pending_updates"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	return s.removeWebhook(p.DropPendingUpdates), nil
}

func (s *Server) removeWebhook(drop bool) bool {
	s.stopWebhook()
	if drop {
		s.mu.Lock()
		s.dropPending()
		s.mu.Unlock()
	}
	return true
}

// stopWebhook detaches the webhook, cancels its deliveries and waits for
// them and its dispatcher to end. Undelivered updates stay pending.
func (s *Server) stopWebhook() {
	s.mu.Lock()
	wh := s.wh
	s.wh = nil
	s.mu.Unlock()
	if wh != nil {
		wh.stop()
	}
}

// stop cancels a detached webhook's deliveries and waits for them and its
// dispatcher to end.
func (wh *webhook) stop() {
	wh.cancel()
	wh.wg.Wait()
	wh.client.CloseIdleConnections()
}

func (s *Server) getWebhookInfo(rq *request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := WebhookInfo{PendingUpdateCount: s.q.pending, AllowedUpdates: s.q.allowL}
	if wh := s.wh; wh != nil {
		info.URL = wh.url
		info.MaxConnections = wh.maxConn
		info.LastErrorDate = wh.errDate
		info.LastErrorMessage = wh.errMsg
	}
	return info, nil
}

// laneKey is the chat an update belongs to, or a key of its own when it
// has none (then it is not ordered with anything).
func laneKey(u *pendingUpdate) int64 {
	if u.chatKey != 0 {
		return u.chatKey
	}
	return 1<<62 + u.id
}

// add queues u for delivery. Mu held.
func (wh *webhook) add(u *pendingUpdate) {
	k := laneKey(u)
	l := wh.lanes[k]
	if l == nil {
		l = &lane{key: k}
		wh.lanes[k] = l
	}
	l.q = append(l.q, u)
	if !l.busy && !l.queued {
		l.queued = true
		wh.ready = append(wh.ready, l)
		wh.wake()
	}
}

func (wh *webhook) wake() {
	select {
	case wh.signal <- struct{}{}:
	default:
	}
}

// dispatch starts deliveries while there are ready lanes and free
// connections, until the webhook is stopped.
func (s *Server) dispatch(wh *webhook) {
	defer wh.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var start []*lane
	for {
		start = start[:0]
		s.mu.Lock()
		if s.wh != wh { // replaced or deleted: the new owner delivers
			s.mu.Unlock()
			return
		}
		now := time.Now()
		var next time.Time
		kept := wh.delayed[:0]
		for _, l := range wh.delayed {
			if l.notBefore.After(now) {
				kept = append(kept, l)
				if next.IsZero() || l.notBefore.Before(next) {
					next = l.notBefore
				}
			} else {
				wh.ready = append(wh.ready, l)
			}
		}
		clear(wh.delayed[len(kept):])
		wh.delayed = kept
		n := 0
		for n < len(wh.ready) && wh.inflight < wh.maxConn {
			l := wh.ready[n]
			n++
			l.queued, l.busy = false, true
			wh.inflight++
			start = append(start, l)
		}
		m := copy(wh.ready, wh.ready[n:])
		clear(wh.ready[m:])
		wh.ready = wh.ready[:m]
		for _, l := range start {
			u := l.q[0]
			if u.deliveries == 0 {
				s.c.updDelivered.Add(1)
			} else {
				s.c.updRedelivered.Add(1)
			}
			u.deliveries++
			wh.wg.Add(1)
			go s.deliver(wh, l, u)
		}
		s.mu.Unlock()
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-wh.ctx.Done():
			return
		case <-wh.signal:
		case <-timer.C:
		}
	}
}

// deliver POSTs one update and records the outcome.
func (s *Server) deliver(wh *webhook, l *lane, u *pendingUpdate) {
	defer wh.wg.Done()
	s.c.whDeliveries.Add(1)
	body := appendUpdate(make([]byte, 0, len(u.frag)+32), u)
	answer, errMsg := wh.post(s.cfg.webhookTimeout, body)
	s.mu.Lock()
	wh.inflight--
	l.busy = false
	ok := errMsg == ""
	if ok {
		s.popLane(wh, l, u, &s.c.updConfirmed)
	} else {
		s.c.whFailures.Add(1)
		wh.errDate, wh.errMsg = time.Now().Unix(), errMsg
		l.attempts++
		if s.cfg.retryAttempts > 0 && l.attempts >= s.cfg.retryAttempts {
			s.popLane(wh, l, u, &s.c.updDropped) // given up
		} else {
			l.notBefore = time.Now().Add(backoff(s.cfg.retryMin, s.cfg.retryMax, l.attempts))
		}
	}
	if len(l.q) == 0 {
		delete(wh.lanes, l.key)
	} else if !l.queued {
		l.queued = true
		if l.notBefore.After(time.Now()) {
			wh.delayed = append(wh.delayed, l)
		} else {
			wh.ready = append(wh.ready, l)
		}
	}
	wh.wake()
	s.mu.Unlock()
	if ok && len(answer) > 0 {
		s.callFromWebhook(answer)
	}
}

// popLane removes u, the head of lane l, as finished (confirmed or given
// up: outcome counts it). Mu held.
func (s *Server) popLane(wh *webhook, l *lane, u *pendingUpdate, outcome *atomic.Int64) {
	l.attempts = 0
	l.q[0] = nil
	l.q = l.q[1:]
	if !u.done && s.wh == wh {
		u.done = true
		s.q.pending--
		outcome.Add(1)
		s.q.popDone()
	}
}

func backoff(lo, hi time.Duration, attempts int) time.Duration {
	d := lo
	for i := 1; i < attempts && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// post sends body and returns the answer body (bounded) on 2xx, or a
// message for getWebhookInfo's last_error_message.
func (wh *webhook) post(timeout time.Duration, body []byte) ([]byte, string) {
	ctx, cancel := context.WithTimeout(wh.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.url, bytes.NewReader(body))
	if err != nil {
		return nil, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	if wh.secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", wh.secret)
	}
	resp, err := wh.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, "Read timeout expired"
		}
		return nil, "Connection refused"
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, "Wrong response from the webhook: " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	return answer, ""
}

// callFromWebhook performs a Bot API call given in a webhook answer
// ({"method":"sendMessage",…}); its result is discarded, as on Telegram.
func (s *Server) callFromWebhook(answer []byte) {
	var head struct {
		Method string `json:"method"`
	}
	if json.Unmarshal(answer, &head) != nil || head.Method == "" {
		return
	}
	m := lookupMethod(head.Method)
	if m == mUnknown || m == mGetUpdates || m == mSetWebhook || m == mDeleteWebhook {
		return
	}
	rq := getRequest(s, nil, m)
	rq.body = answer
	_, err := methods[m].fn(s, rq)
	putRequest(rq)
	status := 200
	if err != nil {
		status = asAPIError(err).Code
	}
	s.c.countRequest(m, status)
}
