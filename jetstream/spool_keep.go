package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// opTimeout bounds one request of the keeper or a reader.
func (s *Spool) opTimeout() time.Duration {
	return min(max(s.cfg.leaseTTL/3, 250*time.Millisecond), 2*time.Second)
}

// watch starts a watcher of the whole leases bucket; its context is
// cancelled when the watcher is stopped.
func (s *Spool) watch() (natsjs.KeyWatcher, context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(s.ctx)
	w, err := s.leases.WatchAll(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("jetstream: watch leases: %w", err)
	}
	return w, ctx, cancel, nil
}

// watchLoop keeps s.keys equal to the leases bucket (members, partition
// owners, the poll lease) until Close, and wakes waiters on each change.
// A key that expires leaves a marker (LimitMarkerTTL), seen as a purge.
// When the watcher ends (the connection closed for good), it starts
// another.
func (s *Spool) watchLoop(w natsjs.KeyWatcher, wctx context.Context, wcancel context.CancelFunc) {
	for {
		s.readWatcher(w)
		w.Stop()
		wcancel()
		_ = wctx
		for {
			if !sleep(s.ctx, 250*time.Millisecond) {
				return
			}
			var err error
			if w, wctx, wcancel, err = s.watch(); err == nil {
				break
			}
			s.log.Warn("jetstream: watching leases", "error", err)
		}
	}
}

func (s *Spool) readWatcher(w natsjs.KeyWatcher) {
	fresh, ready := map[string]seen{}, false
	for {
		select {
		case <-s.ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			s.mu.Lock()
			keys := fresh
			if ready {
				keys = s.keys
			}
			switch {
			case e == nil: // the initial values are in
				s.keys, s.viewReady, ready = fresh, true, true
			case e.Operation() == natsjs.KeyValuePut:
				keys[e.Key()] = seen{value: string(e.Value()), at: time.Now()}
			default:
				delete(keys, e.Key())
			}
			if ready {
				s.wakeLocked()
			}
			s.mu.Unlock()
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// keep runs until Close, every commitEvery: heartbeats this instance's
// membership while Consume runs, renews the held leases every
// LeaseTTL/3, drops the partitions whose lease ended, commits
// watermarks, releases the partitions given up once their deliveries
// are Done (or ReleaseWait passed), purges done updates and looks the
// stream up (Depth, Check).
func (s *Spool) keep() {
	tick := time.NewTicker(commitEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		s.keepOnce()
	}
}

func (s *Spool) keepOnce() {
	period := s.cfg.leaseTTL / 3
	s.mu.Lock()
	memberDue := s.consuming && time.Since(s.member) >= period
	poll := s.poll
	parts := make([]*partition, 0, len(s.parts))
	for _, p := range s.parts {
		parts = append(parts, p)
	}
	purge := time.Since(s.purgedAt) >= purgeEvery
	if purge {
		s.purgedAt = time.Now()
	}
	s.mu.Unlock()

	// One goroutine per lease, all ended before the next tick: a slow
	// server delays each lease by one request, not by all the others'.
	var wg sync.WaitGroup
	if memberDue {
		wg.Go(s.heartbeat)
	}
	if poll != nil && poll.due(period) {
		wg.Go(func() {
			s.op(func(ctx context.Context) error { return poll.renew(ctx) }, "renew the poll lease")
		})
	}
	for _, p := range parts {
		wg.Go(func() { s.keepPartition(p, period, purge) })
	}
	wg.Go(func() {
		s.op(func(ctx context.Context) error { return s.lookStream(ctx, false) }, "look up the stream")
	})
	wg.Wait()
}

// keepPartition renews p's lease when due, then releases p (given up and
// drained) or commits its watermark and purges what is done.
func (s *Spool) keepPartition(p *partition, period time.Duration, purge bool) {
	switch {
	case p.lease.ctx.Err() != nil: // lost or expired: its reader stops on its own
		s.dropPartition(p, context.Cause(p.lease.ctx))
		return
	case p.lease.due(period):
		s.op(func(ctx context.Context) error { return p.lease.renew(ctx) }, "renew a partition lease", "partition", p.n)
	}
	if p.releasable(time.Now()) {
		s.mu.Lock()
		if s.parts[p.n] == p {
			delete(s.parts, p.n)
		}
		s.wakeLocked()
		s.mu.Unlock()
		s.op(func(ctx context.Context) error { return s.releasePartition(ctx, p) }, "release a partition", "partition", p.n)
		return
	}
	s.op(func(ctx context.Context) error { return s.commit(ctx, p, false) }, "commit a watermark", "partition", p.n)
	if purge {
		s.op(func(ctx context.Context) error { return s.purge(ctx, p) }, "purge done updates", "partition", p.n)
	}
}

// op runs f with a timeout and logs its error.
func (s *Spool) op(f func(context.Context) error, what string, args ...any) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opTimeout())
	defer cancel()
	if err := f(ctx); err != nil && s.ctx.Err() == nil {
		s.log.Warn("jetstream: "+what, append(args, "error", err)...)
	}
}

// heartbeat writes this instance's member key.
func (s *Spool) heartbeat() {
	sent := time.Now()
	ctx, cancel := context.WithTimeout(s.ctx, s.opTimeout())
	defer cancel()
	if _, err := s.leases.PutString(ctx, "member."+s.cfg.instance, s.cfg.instance); err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("jetstream: membership heartbeat", "error", err)
		}
		return
	}
	s.mu.Lock()
	s.member = sent
	s.mu.Unlock()
}

// dropPartition forgets p after its lease ended without release: the
// next owner reads from the last committed watermark.
func (s *Spool) dropPartition(p *partition, cause error) {
	s.mu.Lock()
	if s.parts[p.n] != p {
		s.mu.Unlock()
		return
	}
	delete(s.parts, p.n)
	s.wakeLocked()
	s.mu.Unlock()
	p.stop(cause)
	s.changes.Add(1)
	s.log.Warn("jetstream: partition lost", "partition", p.n, "cause", cause)
}

// releasePartition stops p's reader, commits p's watermark (with the
// exact high-water mark) and deletes its lease, so the next owner starts
// at once where p ended.
func (s *Spool) releasePartition(ctx context.Context, p *partition) error {
	p.stop(errLeaseReleased)
	<-p.readerDone
	if !p.lease.held() {
		return nil // lost meanwhile: nothing of ours to commit
	}
	cerr := s.commit(ctx, p, true)
	if err := p.lease.release(ctx); err != nil {
		return errors.Join(cerr, err)
	}
	s.changes.Add(1)
	s.log.Info("jetstream: partition released", "partition", p.n)
	return cerr
}

// purge deletes p's updates below its committed watermark from the
// stream, so it holds only updates not yet done.
func (s *Spool) purge(ctx context.Context, p *partition) error {
	p.mu.Lock()
	wm, purged := p.committedWM, p.purgedTo
	p.mu.Unlock()
	if wm <= purged || !p.lease.held() {
		return nil
	}
	if err := s.stream.Purge(ctx, natsjs.WithPurgeSubject(s.subject+itoa(p.n)), natsjs.WithPurgeSequence(wm+1)); err != nil {
		return fmt.Errorf("jetstream: purge partition %d below %d: %w", p.n, wm+1, err)
	}
	p.mu.Lock()
	p.purgedTo = wm
	p.mu.Unlock()
	return nil
}
