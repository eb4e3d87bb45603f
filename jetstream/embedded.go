package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startEmbedded starts the in-process server of Embedded and waits, within
// ctx, until it accepts connections and JetStream is ready (in a cluster:
// until the node is current with the meta group).
func startEmbedded(ctx context.Context, c *config) (*server.Server, error) {
	o := &server.Options{
		ServerName:   "tidygram-" + c.instance,
		Host:         "127.0.0.1",
		Port:         -1,
		NoSigs:       true,
		NoLog:        true,
		JetStream:    true,
		StoreDir:     c.dir,
		SyncAlways:   c.syncAlways,
		SyncInterval: c.syncInterval,
	}
	for _, f := range c.serverOpts {
		f(o)
	}
	s, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("jetstream: embedded server: %w", err)
	}
	s.SetLoggerV2(serverLog{c.log}, false, false, false)
	s.Start()
	stop := func(err error) (*server.Server, error) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, err
	}
	wait := time.Until(deadline(ctx))
	if !s.ReadyForConnections(wait) {
		return stop(fmt.Errorf("jetstream: embedded server in %s: not ready within %v", c.dir, wait.Round(time.Millisecond)))
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !s.JetStreamEnabled() || !s.JetStreamIsCurrent() {
		select {
		case <-ctx.Done():
			return stop(fmt.Errorf("jetstream: embedded server in %s: JetStream not ready: %w", c.dir, context.Cause(ctx)))
		case <-tick.C:
		}
	}
	return s, nil
}

// deadline is ctx's deadline; Open always sets one.
func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(DefaultOpenTimeout)
	}
	return d
}

// serverLog passes the embedded server's notices, warnings and errors to
// the spool's logger.
type serverLog struct{ l *slog.Logger }

func (g serverLog) Noticef(f string, v ...any) { g.l.Debug("nats-server: " + fmt.Sprintf(f, v...)) }
func (g serverLog) Warnf(f string, v ...any)   { g.l.Warn("nats-server: " + fmt.Sprintf(f, v...)) }
func (g serverLog) Fatalf(f string, v ...any)  { g.l.Error("nats-server: " + fmt.Sprintf(f, v...)) }
func (g serverLog) Errorf(f string, v ...any)  { g.l.Error("nats-server: " + fmt.Sprintf(f, v...)) }
func (g serverLog) Debugf(string, ...any)      {}
func (g serverLog) Tracef(string, ...any)      {}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
