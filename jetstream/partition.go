package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json/v1"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

func itoa(n int) string { return strconv.Itoa(n) }

// readBuffer is how many messages a partition's reader buffers ahead.
const readBuffer = 128

// errStopping: deliver refused a delivery, the bot is stopping.
var errStopping = errors.New("jetstream: the bot stopped taking deliveries")

// A partition is one partition this instance holds: its lease, its
// reader and the tracker of its deliveries.
//
// The tracker keeps the deliveries read, in stream order, until every one
// before them is done; the watermark is the highest stream sequence at or
// below which every update of the partition is done (Done(true)). Done(false)
// and deliveries deliver refused are never done here: the watermark stays
// below them and the next owner reads them again.
type partition struct {
	n          int
	lease      *lease
	ctx        context.Context // the reader's: ends with Consume, the lease, or release
	cancel     context.CancelCauseFunc
	stopAfter  func() bool
	readerDone chan struct{}

	writeMu sync.Mutex // one write of wm.<n> at a time

	mu           sync.Mutex
	queue        []*entry // read, not yet below the watermark
	head         int
	lastRead     uint64 // highest stream sequence read
	maxDelivered uint64 // highest stream sequence handed to deliver
	prevHW       uint64 // the previous owners' high-water mark: at or below, Redelivered
	hw           uint64 // the high-water mark recorded: nothing above it was delivered
	committedWM  uint64
	committedHW  uint64
	stateRev     uint64 // revision of wm.<n> as we last read or wrote it
	revUnknown   bool   // a write failed without a verdict
	inflight     int    // handed over, Done not yet called
	releasing    bool
	releaseBy    time.Time
	purgedTo     uint64
}

type entry struct {
	seq  uint64
	done bool
}

// stored is the value of wm.<n>.
type stored struct {
	WM uint64 `json:"wm"`           // every update of the partition at or below is done
	HW uint64 `json:"hw"`           // no update above was ever delivered
	By string `json:"by,omitempty"` // the instance that wrote it
}

// watermark computes the watermark; p.mu is held.
func (p *partition) watermark() uint64 {
	if p.head == len(p.queue) {
		return p.lastRead
	}
	return p.queue[p.head].seq - 1
}

// add records a delivery of seq about to be handed over.
func (p *partition) add(seq uint64) *entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := &entry{seq: seq}
	p.queue = append(p.queue, e)
	p.lastRead = seq
	p.maxDelivered = max(p.maxDelivered, seq)
	p.inflight++
	return e
}

// skip records seq as done without delivering it (an undecodable message).
func (p *partition) skip(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, &entry{seq: seq, done: true})
	p.lastRead = seq
	p.advance()
}

// finish ends a delivery: handled makes it done.
func (p *partition) finish(e *entry, handled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	if handled {
		e.done = true
		p.advance()
	}
}

// advance drops the done deliveries at the front; p.mu is held.
func (p *partition) advance() {
	for p.head < len(p.queue) && p.queue[p.head].done {
		p.queue[p.head] = nil
		p.head++
	}
	if p.head > 64 && p.head*2 >= len(p.queue) {
		p.queue = append(p.queue[:0], p.queue[p.head:]...)
		p.head = 0
	}
}

// giveUp stops p's reader; the keeper releases p once its deliveries are
// Done or by deadline.
func (p *partition) giveUp(deadline time.Time) {
	p.mu.Lock()
	if !p.releasing {
		p.releasing, p.releaseBy = true, deadline
	}
	p.mu.Unlock()
	p.stop(errLeaseReleased)
}

func (p *partition) stop(cause error) {
	p.cancel(cause)
	p.stopAfter()
}

// releasable reports whether the keeper may release p now.
func (p *partition) releasable(now time.Time) bool {
	select {
	case <-p.readerDone:
	default:
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.releasing && (p.inflight == 0 || now.After(p.releaseBy))
}

// writeState writes wm.<n> = {wm, hw}, revision-checked (Create when
// the key is new); p.writeMu is held. A write that failed without a
// verdict (a timeout: it may have been applied) leaves the revision
// unknown, and a revision mismatch may be such a write of ours: both are
// resolved by reading the key back. A key another instance wrote means
// the partition is no longer ours: the lease ends.
func (s *Spool) writeState(ctx context.Context, p *partition, wm, hw uint64) error {
	key := "wm." + itoa(p.n)
	p.mu.Lock()
	unknown := p.revUnknown
	p.mu.Unlock()
	if unknown {
		if err := s.resolveState(ctx, p); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(stored{WM: wm, HW: hw, By: s.cfg.instance})
	write := func() (uint64, error) {
		p.mu.Lock()
		rev := p.stateRev
		p.mu.Unlock()
		if rev == 0 {
			return s.state.Create(ctx, key, b)
		}
		return s.state.Update(ctx, key, b, rev)
	}
	nrev, err := write()
	if err != nil && isWrongLastSeq(err) {
		if rerr := s.resolveState(ctx, p); rerr != nil {
			return rerr
		}
		nrev, err = write()
		if err != nil && isWrongLastSeq(err) {
			p.lease.end(fmt.Errorf("%w: %s written by another instance", errLeaseLost, key))
		}
	}
	if err != nil {
		p.mu.Lock()
		p.revUnknown = true
		p.mu.Unlock()
		return fmt.Errorf("jetstream: write %s: %w", key, err)
	}
	p.mu.Lock()
	p.stateRev, p.committedWM, p.committedHW = nrev, wm, hw
	p.mu.Unlock()
	return nil
}

// resolveState reads wm.<n> back after a write without a verdict: a
// revision other than the last known one is ours (a write that was
// applied after all) if we wrote it, else another instance's.
func (s *Spool) resolveState(ctx context.Context, p *partition) error {
	key := "wm." + itoa(p.n)
	var st stored
	var rev uint64
	e, err := s.state.Get(ctx, key)
	switch {
	case err == nil:
		rev = e.Revision()
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			return fmt.Errorf("jetstream: read %s: %w", key, err)
		}
	case errors.Is(err, natsjs.ErrKeyNotFound):
	default:
		return fmt.Errorf("jetstream: read %s: %w", key, err)
	}
	p.mu.Lock()
	known := p.stateRev
	if rev != known && st.By != s.cfg.instance {
		p.mu.Unlock()
		err := fmt.Errorf("%w: %s written by %q", errLeaseLost, key, st.By)
		p.lease.end(err)
		return err
	}
	if rev != known {
		p.stateRev, p.committedWM, p.committedHW = rev, st.WM, st.HW
	}
	p.revUnknown = false
	p.mu.Unlock()
	return nil
}

// commit writes p's watermark and high-water mark if they changed, while
// p's lease is held. final (a release) records the exact high-water mark
// instead of the reserved one.
func (s *Spool) commit(ctx context.Context, p *partition, final bool) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.Lock()
	wm, hw := p.watermark(), p.hw
	if final {
		hw = max(p.prevHW, p.maxDelivered)
	}
	same := wm == p.committedWM && hw == p.committedHW
	p.mu.Unlock()
	if same || !p.lease.held() {
		return nil
	}
	return s.writeState(ctx, p, wm, hw)
}

// reserveAhead is how far past what it knows of the stream a partition's
// owner reserves its high-water mark, in stream sequences: one KV write
// covers the next reserveAhead messages of the stream (about
// reserveAhead/Partitions of one partition's), instead of one write per
// delivery. After a crash, the next owner may therefore flag as
// Redelivered updates up to reserveAhead sequences past the last one
// delivered: a conservative flag, never a missing one.
const reserveAhead = 1024

// reserve records a high-water mark above seq before seq is delivered,
// so that after a crash the next owner flags every update this owner may
// have delivered: the stream's last sequence as known (refreshed when
// the partition has more messages pending than it covers), plus
// reserveAhead.
func (s *Spool) reserve(ctx context.Context, p *partition, seq, pending uint64) error {
	target := max(seq, s.lastSeq.Load())
	if pending > 0 && target == seq {
		_ = s.lookStream(ctx, true)
		target = max(seq, s.lastSeq.Load())
	}
	target += reserveAhead
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.Lock()
	wm := p.watermark()
	p.mu.Unlock()
	if !p.lease.held() {
		return context.Cause(p.lease.ctx)
	}
	if err := s.writeState(ctx, p, wm, target); err != nil {
		return err
	}
	p.mu.Lock()
	p.hw = target
	p.mu.Unlock()
	return nil
}

// consumer is one Consume call.
type consumer struct {
	ctx      context.Context
	deliver  func(context.Context, *spool.Delivery) error
	readers  sync.WaitGroup
	stopOnce sync.Once
	stopping chan struct{} // closed when deliver refused: the bot stops
}

// Consume takes partitions and delivers their updates until ctx is done
// or Close (then it returns nil), or the spool cannot go on (the stream
// was deleted: an error). It joins the instances consuming the spool
// (member.<instance>, renewed every LeaseTTL/3), takes free partitions up
// to its fair share ceil(Partitions / live instances) and gives up those
// above it; each partition it holds is read from its committed watermark
// by one goroutine, in stream order, each delivery after deliver returned
// for the one before. At most MaxInHand deliveries of this instance are
// not Done at a time: reading waits at the bound.
//
// When Consume returns, its partitions stop being read and are released
// once their deliveries are Done (or after ReleaseWait, or at Close). One
// Consume runs at a time per Spool.
func (s *Spool) Consume(ctx context.Context, deliver func(context.Context, *spool.Delivery) error) error {
	if deliver == nil {
		return errors.New("jetstream: Consume: nil deliver")
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.consuming:
		s.mu.Unlock()
		return errors.New("jetstream: Consume is already running on this spool")
	}
	s.consuming = true
	s.member = time.Time{}
	s.consumeWG.Add(1)
	s.mu.Unlock()
	defer s.consumeWG.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopAfter := context.AfterFunc(s.ctx, cancel)
	defer stopAfter()
	c := &consumer{ctx: ctx, deliver: deliver, stopping: make(chan struct{})}
	defer s.endConsume(c, cancel)

	s.heartbeat()
	tick := time.NewTicker(s.cfg.leaseTTL / 3)
	defer tick.Stop()
	for {
		s.mu.Lock()
		fatal, ready, wake := s.fatal, s.viewReady, s.viewWake
		s.mu.Unlock()
		if fatal != nil {
			return fatal
		}
		if ready && ctx.Err() == nil {
			s.balance(c)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.stopping:
			return nil
		case <-wake:
		case <-tick.C:
		}
	}
}

// endConsume stops c's readers, marks c's partitions for release and
// leaves the membership.
func (s *Spool) endConsume(c *consumer, cancel context.CancelFunc) {
	cancel()
	by := time.Now().Add(s.cfg.releaseWait)
	s.mu.Lock()
	for _, p := range s.parts {
		p.giveUp(by)
	}
	s.mu.Unlock()
	c.readers.Wait()
	s.mu.Lock()
	s.consuming = false
	s.mu.Unlock()
	ctx, cncl := context.WithTimeout(context.Background(), s.opTimeout())
	defer cncl()
	if err := s.leases.Delete(ctx, "member."+s.cfg.instance); err != nil && !errors.Is(err, natsjs.ErrKeyNotFound) {
		s.log.Warn("jetstream: leaving the members", "error", err)
	}
}

// balance takes free partitions up to this instance's fair share and
// gives up those above it.
func (s *Spool) balance(c *consumer) {
	P := s.cfg.partitions
	s.mu.Lock()
	members := s.membersLocked()
	share := (P + members - 1) / members
	var reading []*partition
	for _, p := range s.parts {
		p.mu.Lock()
		if !p.releasing {
			reading = append(reading, p)
		}
		p.mu.Unlock()
	}
	held := len(s.parts)
	var free []int
	start := partitionOf(int64(hashString(s.cfg.instance)), P)
	for i := range P {
		n := (start + i) % P
		if _, mine := s.parts[n]; mine {
			continue
		}
		if !s.liveLocked("part." + itoa(n)) {
			free = append(free, n)
		}
	}
	s.mu.Unlock()

	if len(reading) > share {
		// Give up the ones with the fewest deliveries in hand: they
		// are released soonest.
		by := time.Now().Add(s.cfg.releaseWait)
		for range len(reading) - share {
			best := 0
			for i, p := range reading {
				if p.inHand() < reading[best].inHand() {
					best = i
				}
			}
			p := reading[best]
			reading = append(reading[:best], reading[best+1:]...)
			s.log.Info("jetstream: giving up a partition above the fair share", "partition", p.n, "share", share, "members", members)
			p.giveUp(by)
		}
		return
	}
	// Take the free ones up to the share at once (each take is a few
	// requests): a takeover then costs one round of requests, not one per
	// partition. A take that fails (another instance was quicker) is
	// retried on the next call with the next free partition.
	free = free[:min(len(free), max(share-held, 0))]
	var wg sync.WaitGroup
	for _, n := range free {
		wg.Go(func() { s.take(c, n) })
	}
	wg.Wait()
}

func (p *partition) inHand() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight
}

func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// take tries to take partition n and start its reader.
func (s *Spool) take(c *consumer, n int) bool {
	ctx, cancel := context.WithTimeout(c.ctx, s.opTimeout())
	defer cancel()
	l, err := takeLease(ctx, s.leases, "part."+itoa(n), []byte(s.cfg.instance), s.cfg.leaseTTL, nil)
	if err != nil {
		if !errors.Is(err, errHeld) && c.ctx.Err() == nil {
			s.log.Warn("jetstream: taking a partition", "partition", n, "error", err)
		}
		return false
	}
	var st stored
	var rev uint64
	e, err := s.state.Get(ctx, "wm."+itoa(n))
	switch {
	case err == nil:
		rev = e.Revision()
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			s.log.Error("jetstream: a partition's watermark is damaged; reading it from the start", "partition", n, "error", err)
			st = stored{}
		}
	case errors.Is(err, natsjs.ErrKeyNotFound) || errors.Is(err, natsjs.ErrKeyDeleted):
		if e != nil {
			rev = e.Revision()
		}
	default:
		s.log.Warn("jetstream: reading a partition's watermark", "partition", n, "error", err)
		rctx, rcancel := context.WithTimeout(context.Background(), s.opTimeout())
		defer rcancel()
		_ = l.release(rctx)
		return false
	}
	p := &partition{
		n: n, lease: l, readerDone: make(chan struct{}),
		lastRead: st.WM, prevHW: st.HW, hw: st.HW,
		committedWM: st.WM, committedHW: st.HW, stateRev: rev, purgedTo: 0,
	}
	p.ctx, p.cancel = context.WithCancelCause(c.ctx)
	p.stopAfter = context.AfterFunc(l.ctx, func() { p.cancel(context.Cause(l.ctx)) })
	s.mu.Lock()
	if s.closed || c.ctx.Err() != nil {
		s.mu.Unlock()
		p.stop(ErrClosed)
		rctx, rcancel := context.WithTimeout(context.Background(), s.opTimeout())
		defer rcancel()
		_ = l.release(rctx)
		return false
	}
	s.parts[n] = p
	c.readers.Add(1)
	s.mu.Unlock()
	s.changes.Add(1)
	s.log.Info("jetstream: partition taken", "partition", n, "watermark", st.WM, "high_water", st.HW)
	go func() {
		defer c.readers.Done()
		defer close(p.readerDone)
		s.read(p, c)
	}()
	return true
}

// read delivers p's updates until p's context ends. A failing consumer
// is created again (after a pause) from the last sequence read.
func (s *Spool) read(p *partition, c *consumer) {
	pause := 100 * time.Millisecond
	for p.ctx.Err() == nil {
		err := s.readFrom(p, c)
		switch {
		case p.ctx.Err() != nil:
			return
		case errors.Is(err, errStopping):
			c.stopOnce.Do(func() { close(c.stopping) })
			return
		case err != nil:
			s.log.Warn("jetstream: reading a partition; trying again", "partition", p.n, "error", err, "retry_in", pause)
			if !sleep(p.ctx, pause) {
				return
			}
			pause = min(2*pause, 2*time.Second)
		}
	}
}

func (s *Spool) readFrom(p *partition, c *consumer) error {
	p.mu.Lock()
	start := p.lastRead + 1
	p.mu.Unlock()
	cons, err := s.js.OrderedConsumer(p.ctx, s.cfg.name, natsjs.OrderedConsumerConfig{
		FilterSubjects:    []string{s.subject + itoa(p.n)},
		DeliverPolicy:     natsjs.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		InactiveThreshold: time.Minute,
		// nats.go retries a failed reset inside Next, holding the lock Stop
		// needs, and ignoring Next's context: bound it (about a second), and
		// let read create the consumer again, with its own pause.
		MaxResetAttempts: 2,
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	it, err := cons.Messages(natsjs.PullMaxMessages(min(readBuffer, s.cfg.maxInHand)))
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer it.Stop()
	stopIt := context.AfterFunc(p.ctx, it.Stop) // ends a Next waiting in a reset
	defer stopIt()
	for p.ctx.Err() == nil {
		if err := s.next(p, c, it); err != nil {
			return err
		}
	}
	return nil
}

// next reads one message and delivers it once a slot of MaxInHand is
// free; the delivery's Done frees the slot. A message read but not
// delivered (the partition stopped) is not tracked: the watermark stays
// below it.
func (s *Spool) next(p *partition, c *consumer, it natsjs.MessagesContext) error {
	msg, err := it.Next(natsjs.NextContext(p.ctx))
	if err != nil {
		if p.ctx.Err() != nil {
			return nil
		}
		return err
	}
	select { // a slot of MaxInHand
	case s.inHand <- struct{}{}:
	case <-p.ctx.Done():
		return nil
	}
	handed, err := s.deliver(p, c, msg)
	if !handed {
		<-s.inHand
	}
	return err
}

// deliver hands msg over; handed reports that deliver took it.
func (s *Spool) deliver(p *partition, c *consumer, msg natsjs.Msg) (handed bool, err error) {
	md, err := msg.Metadata()
	if err != nil {
		return false, err
	}
	seq := md.Sequence.Stream
	p.mu.Lock()
	old := seq <= p.lastRead
	p.mu.Unlock()
	if old {
		return false, nil
	}
	u := new(tg.Update)
	if err := json.Unmarshal(msg.Data(), u); err != nil || u.UpdateID <= 0 {
		s.log.Error("jetstream: a stored message is no update; skipped", "partition", p.n, "seq", seq, "error", err)
		p.skip(seq)
		return false, nil
	}
	p.mu.Lock()
	reserved := seq <= p.hw
	p.mu.Unlock()
	if !reserved {
		ctx, cancel := context.WithTimeout(p.ctx, s.opTimeout())
		err := s.reserve(ctx, p, seq, md.NumPending)
		cancel()
		if err != nil {
			if p.ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("record the high-water mark: %w", err)
		}
	}
	if !p.lease.held() {
		// Not renewed in time: stop before the server lets it expire.
		p.stop(errLeaseExpired)
		return false, nil
	}
	d := &spool.Delivery{Update: u, Redelivered: seq <= p.prevHW}
	e := p.add(seq)
	var once atomic.Bool
	d.Done = func(handled bool) {
		if once.Swap(true) {
			return
		}
		p.finish(e, handled)
		<-s.inHand
	}
	if d.Redelivered {
		s.redeliv.Add(1)
	}
	if err := c.deliver(p.ctx, d); err != nil {
		once.Store(true) // not handed over: no Done will come
		p.finish(e, false)
		if p.ctx.Err() != nil {
			return false, nil
		}
		return false, errStopping
	}
	return true, nil
}
