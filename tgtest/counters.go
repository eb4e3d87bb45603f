package tgtest

import (
	"sync/atomic"
)

// statuses are the HTTP statuses counted separately; others count as -1.
// 0 stands for "no complete answer" (a cut connection), 499 for a client
// that went away first.
var statuses = [...]int{0, 200, 400, 401, 403, 404, 409, 413, 429, 499, 500, 502, -1}

func statusIndex(code int) int {
	for i, s := range statuses {
		if s == code {
			return i
		}
	}
	return len(statuses) - 1
}

// counters are the server's live counters, updated with atomics.
type counters struct {
	req            [numMethods][len(statuses)]atomic.Int64
	bytesIn        atomic.Int64
	bytesOut       atomic.Int64
	connOpen       atomic.Int64
	connMax        atomic.Int64
	connTotal      atomic.Int64
	idleClosed     atomic.Int64
	updEnqueued    atomic.Int64
	updRejected    atomic.Int64
	updDelivered   atomic.Int64
	updRedelivered atomic.Int64
	updConfirmed   atomic.Int64
	updDropped     atomic.Int64
	whDeliveries   atomic.Int64
	whFailures     atomic.Int64
	flood429       atomic.Int64
	historyDropped atomic.Int64
	faults         [len(faultKinds)]atomic.Int64
}

func (c *counters) countRequest(m methodID, status int) {
	c.req[m][statusIndex(status)].Add(1)
}

// Counters is a snapshot of what the server has seen and done since it
// started (or since Reset, except the connection counters).
type Counters struct {
	// Requests counts Bot API calls by method ("unknown" for a wrong token
	// or method) and HTTP status (0: connection cut, 499: client gone).
	Requests map[string]map[int]int64 `json:"requests"`
	// BytesIn and BytesOut count every byte read and written on the
	// server's TCP connections, headers included.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// OpenConns is the number of open TCP connections now, MaxOpenConns
	// the most at once, ConnsAccepted the total accepted.
	OpenConns     int64 `json:"open_conns"`
	MaxOpenConns  int64 `json:"max_open_conns"`
	ConnsAccepted int64 `json:"conns_accepted"`
	// IdleConnsClosed counts the keep-alive connections the server closed
	// because they stayed idle for the idle timeout (WithIdleTimeout).
	IdleConnsClosed int64 `json:"idle_conns_closed"`
	// Updates: enqueued; rejected (queue full); delivered (handed to the
	// bot the first time, by getUpdates or a webhook POST); redelivered
	// (handed again); confirmed (by offset or a 2xx webhook answer);
	// dropped (filtered by allowed_updates, discarded by
	// drop_pending_updates or a negative offset, or given up); pending now.
	UpdatesEnqueued    int64 `json:"updates_enqueued"`
	UpdatesRejected    int64 `json:"updates_rejected"`
	UpdatesDelivered   int64 `json:"updates_delivered"`
	UpdatesRedelivered int64 `json:"updates_redelivered"`
	UpdatesConfirmed   int64 `json:"updates_confirmed"`
	UpdatesDropped     int64 `json:"updates_dropped"`
	UpdatesPending     int   `json:"updates_pending"`
	// WebhookDeliveries counts POSTs to the webhook, WebhookFailures those
	// answered non-2xx, timed out or not connected.
	WebhookDeliveries int64 `json:"webhook_deliveries"`
	WebhookFailures   int64 `json:"webhook_failures"`
	// MessagesPerChat counts the messages the bot sent to each chat.
	MessagesPerChat map[int64]int64 `json:"messages_per_chat"`
	// HistoryDropped counts messages dropped from full chat histories.
	HistoryDropped int64 `json:"history_dropped"`
	// FloodRejections counts the 429s flood control answered.
	FloodRejections int64 `json:"flood_rejections"`
	// Faults counts injected faults by kind.
	Faults map[FaultKind]int64 `json:"faults"`
}

// Requests429 is the number of 429 answers of any origin (flood control
// and injected faults).
func (c Counters) Requests429() int64 {
	var n int64
	for _, byStatus := range c.Requests {
		n += byStatus[429]
	}
	return n
}

// Counters returns a snapshot of the counters.
func (s *Server) Counters() Counters {
	c := &s.c
	out := Counters{
		Requests:           map[string]map[int]int64{},
		BytesIn:            c.bytesIn.Load(),
		BytesOut:           c.bytesOut.Load(),
		OpenConns:          c.connOpen.Load(),
		MaxOpenConns:       c.connMax.Load(),
		ConnsAccepted:      c.connTotal.Load(),
		IdleConnsClosed:    c.idleClosed.Load(),
		UpdatesEnqueued:    c.updEnqueued.Load(),
		UpdatesRejected:    c.updRejected.Load(),
		UpdatesDelivered:   c.updDelivered.Load(),
		UpdatesRedelivered: c.updRedelivered.Load(),
		UpdatesConfirmed:   c.updConfirmed.Load(),
		UpdatesDropped:     c.updDropped.Load(),
		UpdatesPending:     s.Pending(),
		WebhookDeliveries:  c.whDeliveries.Load(),
		WebhookFailures:    c.whFailures.Load(),
		MessagesPerChat:    map[int64]int64{},
		HistoryDropped:     c.historyDropped.Load(),
		FloodRejections:    c.flood429.Load(),
		Faults:             map[FaultKind]int64{},
	}
	for m := range c.req {
		for i := range c.req[m] {
			if n := c.req[m][i].Load(); n > 0 {
				name := methods[m].name
				if out.Requests[name] == nil {
					out.Requests[name] = map[int]int64{}
				}
				out.Requests[name][statuses[i]] = n
			}
		}
	}
	for i, k := range faultKinds {
		if n := c.faults[i].Load(); n > 0 {
			out.Faults[k] = n
		}
	}
	for _, ch := range s.chats.all() {
		ch.mu.Lock()
		n := ch.botSeq
		ch.mu.Unlock()
		if n > 0 {
			out.MessagesPerChat[ch.chat.ID] = n
		}
	}
	return out
}

// reset zeroes every counter except the connection ones.
func (c *counters) reset() {
	for m := range c.req {
		for i := range c.req[m] {
			c.req[m][i].Store(0)
		}
	}
	for _, a := range []*atomic.Int64{&c.bytesIn, &c.bytesOut, &c.updEnqueued, &c.updRejected, &c.updDelivered,
		&c.updRedelivered, &c.updConfirmed, &c.updDropped, &c.whDeliveries, &c.whFailures, &c.flood429, &c.historyDropped} {
		a.Store(0)
	}
	for i := range c.faults {
		c.faults[i].Store(0)
	}
}
