package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// Errors that end a lease (the cause of its context).
var (
	errLeaseLost     = errors.New("jetstream: lease lost")
	errLeaseExpired  = errors.New("jetstream: lease not renewed in time")
	errLeaseReleased = errors.New("jetstream: lease released")
)

// A lease is a key of the leases bucket held by this instance: taken with
// Create (which fails while another holds it), renewed with a
// revision-checked Update, released with a revision-checked Delete. The
// bucket's MaxAge (= LeaseTTL) expires a key nobody renews; an expiry
// leaves a marker, which watchers see as a purge.
//
// The holder trusts a lease until validity after the send of the request
// that last wrote it: the server wrote it no earlier, so it expires no
// earlier than LeaseTTL after that send, and validity is shorter.
type lease struct {
	kv       natsjs.KeyValue
	key      string
	value    []byte
	validity time.Duration

	ctx    context.Context // done when the lease is lost, expired or released
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	rev    uint64
	sent   time.Time // send time of the last successful write
	until  time.Time // sent + validity
	timer  *time.Timer
	onLost func(error) // called once when the lease ends other than by release
}

// takeLease creates key with value; it returns errHeld when another holds it.
func takeLease(ctx context.Context, kv natsjs.KeyValue, key string, value []byte, ttl time.Duration, onLost func(error)) (*lease, error) {
	sent := time.Now()
	rev, err := kv.Create(ctx, key, value)
	if errors.Is(err, natsjs.ErrKeyExists) {
		return nil, errHeld
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: take lease %s: %w", key, err)
	}
	l := &lease{kv: kv, key: key, value: value, validity: ttl * 4 / 5, rev: rev, sent: sent, until: sent.Add(ttl * 4 / 5), onLost: onLost}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	l.timer = time.AfterFunc(time.Until(l.until), l.expire)
	return l, nil
}

var errHeld = errors.New("jetstream: held by another instance")

// expire ends the lease if it was not renewed in time.
func (l *lease) expire() {
	l.mu.Lock()
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		return
	}
	if d := time.Until(l.until); d > 0 { // renewed meanwhile
		l.timer.Reset(d)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.end(errLeaseExpired)
}

// end ends the lease for cause (once) and reports it.
func (l *lease) end(cause error) {
	l.mu.Lock()
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		return
	}
	l.cancel(cause)
	l.timer.Stop()
	l.mu.Unlock()
	if l.onLost != nil {
		l.onLost(cause)
	}
}

// held reports whether the lease is trusted now.
func (l *lease) held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ctx.Err() == nil && time.Now().Before(l.until)
}

// due reports whether the lease should be renewed (every period).
func (l *lease) due(period time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ctx.Err() == nil && time.Since(l.sent) >= period
}

// renew writes the lease again. A revision mismatch or a missing key means
// another instance took it: the lease ends at once. Other errors end it
// only once its validity ran out (the timer does that).
func (l *lease) renew(ctx context.Context) error {
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	if l.ctx.Err() != nil {
		return context.Cause(l.ctx)
	}
	sent := time.Now()
	nrev, err := l.kv.Update(ctx, l.key, l.value, rev)
	if err != nil {
		if errors.Is(err, natsjs.ErrKeyNotFound) || errors.Is(err, natsjs.ErrKeyDeleted) || isWrongLastSeq(err) {
			if l.adopt(ctx, rev) {
				return nil
			}
			l.end(fmt.Errorf("%w: %s: %w", errLeaseLost, l.key, err))
		}
		return fmt.Errorf("jetstream: renew lease %s: %w", l.key, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() != nil {
		return context.Cause(l.ctx)
	}
	l.rev, l.sent, l.until = nrev, sent, sent.Add(l.validity)
	return nil
}

// adopt handles a revision mismatch on renewal: if the key still holds
// this lease's value at a newer revision, an earlier renewal that failed
// without a verdict (a timeout) was applied after all; nobody else wrote
// since (a take is a Create, which needs the key gone). The revision is
// adopted, the validity is not extended (the send time of that write is
// unknown): the next renewal extends it.
func (l *lease) adopt(ctx context.Context, rev uint64) bool {
	e, err := l.kv.Get(ctx, l.key)
	if err != nil || e.Revision() <= rev || string(e.Value()) != string(l.value) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() != nil || l.rev != rev {
		return false
	}
	l.rev = e.Revision()
	return true
}

// release ends the lease and deletes its key (revision-checked, so a key
// another instance took since is left alone). It is idempotent.
func (l *lease) release(ctx context.Context) error {
	l.mu.Lock()
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		return nil
	}
	l.cancel(errLeaseReleased)
	l.timer.Stop()
	rev := l.rev
	l.mu.Unlock()
	if err := l.kv.Delete(ctx, l.key, natsjs.LastRevision(rev)); err != nil && !isWrongLastSeq(err) && !errors.Is(err, natsjs.ErrKeyNotFound) {
		return fmt.Errorf("jetstream: release lease %s: %w", l.key, err)
	}
	return nil
}

// isWrongLastSeq reports a revision-check failure of a KV write.
func isWrongLastSeq(err error) bool {
	if errors.Is(err, natsjs.ErrKeyExists) || errors.Is(err, natsjs.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant)
}

// Lead blocks until this instance holds the poll lease (the KV key poll,
// taken with Create, renewed every LeaseTTL/3 by the keeper) or ctx ends
// or the spool closes (then it returns the error). held is done when the
// lease is lost — not renewed within LeaseTTL·4/5, or taken over — or ctx
// ends; release gives the lease up (deleting the key, so another
// instance takes it over at once) and is idempotent. A lease of a crashed
// instance expires after LeaseTTL; waiting instances see the expiry
// within about a second and take it.
func (s *Spool) Lead(ctx context.Context) (held context.Context, release func(), err error) {
	period := s.cfg.leaseTTL / 3
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		s.mu.Lock()
		closed, wake := s.closed, s.viewWake
		taken := s.liveLocked("poll")
		ready := s.viewReady
		s.mu.Unlock()
		if closed {
			return nil, nil, ErrClosed
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if ready && !taken {
			if held, release, err := s.takePoll(ctx); err == nil {
				return held, release, nil
			} else if !errors.Is(err, errHeld) && ctx.Err() == nil {
				s.log.Warn("jetstream: taking the poll lease", "error", err)
			}
		}
		t.Reset(period)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
	}
}

func (s *Spool) takePoll(ctx context.Context) (context.Context, func(), error) {
	octx, cancel := context.WithTimeout(ctx, s.opTimeout())
	defer cancel()
	l, err := takeLease(octx, s.leases, "poll", []byte(s.cfg.instance), s.cfg.leaseTTL, func(cause error) {
		s.changes.Add(1)
		s.log.Warn("jetstream: poll lease lost", "cause", cause)
	})
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		rctx, rcancel := context.WithTimeout(context.Background(), s.opTimeout())
		defer rcancel()
		_ = l.release(rctx)
		return nil, nil, ErrClosed
	}
	s.poll = l
	s.mu.Unlock()
	s.changes.Add(1)
	s.log.Info("jetstream: holding the poll lease")
	held, hcancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(l.ctx, func() { hcancel(context.Cause(l.ctx)) })
	var once sync.Once
	release := func() {
		once.Do(func() {
			stop()
			hcancel(errLeaseReleased)
			s.mu.Lock()
			mine := s.poll == l
			if mine {
				s.poll = nil
			}
			s.mu.Unlock()
			if !mine {
				return // Close released it
			}
			if l.ctx.Err() == nil {
				s.changes.Add(1)
			}
			rctx, rcancel := context.WithTimeout(context.Background(), s.opTimeout())
			defer rcancel()
			if err := l.release(rctx); err != nil {
				s.log.Warn("jetstream: releasing the poll lease", "error", err)
			}
		})
	}
	return held, release, nil
}
