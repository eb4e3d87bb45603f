package tg

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
)

// connCounter counts the TCP connections a Client's own Transport holds
// open (dialled and not yet closed), for the open-connections metric.
type connCounter struct {
	open   atomic.Int64
	dialed atomic.Int64
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	closed *atomic.Bool // the Client's: once set, nothing is dialled
}

func (cc *connCounter) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if cc.closed != nil && cc.closed.Load() {
		return nil, ErrClosed
	}
	conn, err := cc.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc.open.Add(1)
	cc.dialed.Add(1)
	return &countedConn{Conn: conn, cc: cc}, nil
}

type countedConn struct {
	net.Conn
	cc   *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.cc.open.Add(-1) })
	return c.Conn.Close()
}

// ConnStats reports the TCP connections of the Client's own Transport:
// open now, and dialled in total. Both are 0 when the caller supplied the
// http.Client (WithHTTPClient).
func (c *Client) ConnStats() (open, dialed int64) {
	if c.conns == nil {
		return 0, 0
	}
	return c.conns.open.Load(), c.conns.dialed.Load()
}
