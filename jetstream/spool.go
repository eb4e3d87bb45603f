package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// ErrClosed is returned by a Spool's methods after Close.
var ErrClosed = errors.New("jetstream: spool closed")

// Spool is the JetStream spool: a spool.Spool, spool.Leader,
// spool.Checker and spool.Stater. Its methods are safe for concurrent
// use. Open returns one; Close releases everything it holds.
type Spool struct {
	cfg     config
	log     *slog.Logger
	srv     *server.Server // the embedded server, nil with URL
	nc      *nats.Conn
	js      natsjs.JetStream
	stream  natsjs.Stream
	leases  natsjs.KeyValue // member.<id>, part.<p>, poll: MaxAge = LeaseTTL
	state   natsjs.KeyValue // wm.<p>: committed watermark and high-water mark
	subject string          // <name>.u.

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	bg     sync.WaitGroup // the watch and keep goroutines, and PutAsync's acknowledgements
	puts   asyncPuts

	inHand  chan struct{} // a token per undone delivery, cap MaxInHand
	lastSeq atomic.Uint64 // the stream's last sequence as last seen
	depth   atomic.Int64
	redeliv atomic.Int64
	changes atomic.Int64

	mu        sync.Mutex
	closed    bool
	keys      map[string]seen // the leases bucket as the watcher sees it
	viewReady bool
	viewWake  chan struct{} // closed and replaced when keys change
	parts     map[int]*partition
	poll      *lease
	consuming bool
	consumeWG sync.WaitGroup
	member    time.Time // last member heartbeat sent
	fatal     error     // the spool cannot go on (the stream is gone)
	checkedAt time.Time
	checkErr  error
	purgedAt  time.Time
}

var (
	_ spool.Spool   = (*Spool)(nil)
	_ spool.Leader  = (*Spool)(nil)
	_ spool.Checker = (*Spool)(nil)
	_ spool.Stater  = (*Spool)(nil)
)

// Open connects to JetStream (starting the embedded server with
// Embedded), creates or updates the stream and the two KV buckets, and
// starts the spool's two goroutines (the leases watcher and the keeper
// that renews leases and commits watermarks), which end at Close. It
// blocks until all that is done, ctx ends, or OpenTimeout (default 30 s)
// passed; an invalid option is an *OptionError.
func Open(ctx context.Context, opts ...Option) (*Spool, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.openTimeout)
	defer cancel()
	s := &Spool{
		cfg:      c,
		log:      c.log.With("spool", c.name, "instance", c.instance),
		subject:  c.name + ".u.",
		inHand:   make(chan struct{}, c.maxInHand),
		keys:     map[string]seen{},
		viewWake: make(chan struct{}),
		parts:    map[int]*partition{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.open(ctx); err != nil {
		s.cancel()
		s.bg.Wait()
		if s.nc != nil {
			s.nc.Close()
		}
		if s.srv != nil {
			s.srv.Shutdown()
			s.srv.WaitForShutdown()
		}
		return nil, err
	}
	return s, nil
}

func (s *Spool) open(ctx context.Context) error {
	c := &s.cfg
	url := c.url
	nopts := []nats.Option{
		nats.Name("tidygram-" + c.instance),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(min(2*time.Second, max(time.Until(deadline(ctx)), time.Millisecond))),
	}
	if c.embedded {
		srv, err := startEmbedded(ctx, c)
		if err != nil {
			return err
		}
		s.srv = srv
		url = srv.ClientURL()
		nopts = append(nopts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, append(nopts, c.natsOpts...)...)
	if err != nil {
		return fmt.Errorf("jetstream: connect to %s: %w", redact(url), err)
	}
	s.nc = nc
	if s.js, err = natsjs.New(nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	// A new replicated stream or bucket asked for by several instances at
	// once gets an answer for one request only (nats-server 2.15): each
	// setup request is sent again after setupAttempt without an answer.
	s.stream, err = retriedEvery(ctx, setupAttempt, func(ctx context.Context) (natsjs.Stream, error) {
		return s.js.CreateOrUpdateStream(ctx, natsjs.StreamConfig{
			Name:        c.name,
			Description: "tidygram spool: Telegram updates, partitioned by chat",
			Subjects:    []string{s.subject + "*"},
			Retention:   natsjs.LimitsPolicy,
			Storage:     natsjs.FileStorage,
			Replicas:    c.replicas,
			MaxAge:      c.maxAge,
			MaxBytes:    c.maxBytes,
			Discard:     natsjs.DiscardNew,
			Duplicates:  c.dedupe,
			AllowDirect: true,
		})
	})
	if err != nil {
		return fmt.Errorf("jetstream: stream %s: %w", c.name, err)
	}
	s.leases, err = retriedEvery(ctx, setupAttempt, func(ctx context.Context) (natsjs.KeyValue, error) {
		return s.js.CreateOrUpdateKeyValue(ctx, natsjs.KeyValueConfig{
			Bucket:         c.name + "_leases",
			Description:    "tidygram spool: members, partition and poll leases",
			History:        1,
			TTL:            c.leaseTTL,
			LimitMarkerTTL: max(c.leaseTTL, time.Second),
			Storage:        natsjs.FileStorage,
			Replicas:       c.replicas,
		})
	})
	if err != nil {
		return fmt.Errorf("jetstream: leases bucket: %w", err)
	}
	s.state, err = retriedEvery(ctx, setupAttempt, func(ctx context.Context) (natsjs.KeyValue, error) {
		return s.js.CreateOrUpdateKeyValue(ctx, natsjs.KeyValueConfig{
			Bucket:      c.name + "_state",
			Description: "tidygram spool: partition watermarks",
			History:     1,
			Storage:     natsjs.FileStorage,
			Replicas:    c.replicas,
		})
	})
	if err != nil {
		return fmt.Errorf("jetstream: state bucket: %w", err)
	}
	if err := s.checkLayout(ctx); err != nil {
		return err
	}
	if info, err := s.stream.Info(ctx); err == nil {
		s.noteStream(info)
	}
	w, wctx, wcancel, err := s.watch()
	if err != nil {
		return err
	}
	s.bg.Add(2)
	go func() { defer s.bg.Done(); s.watchLoop(w, wctx, wcancel) }()
	go func() { defer s.bg.Done(); s.keep() }()
	return nil
}

// layout is the part of the configuration every instance must share.
type layout struct {
	Partitions int `json:"partitions"`
}

// checkLayout records the partition count on first use and refuses a
// different one: updates already stored were partitioned by it.
func (s *Spool) checkLayout(ctx context.Context) error {
	want := layout{Partitions: s.cfg.partitions}
	b, _ := json.Marshal(want)
	if _, err := s.state.Create(ctx, "layout", b); err == nil {
		return nil
	} else if !errors.Is(err, natsjs.ErrKeyExists) {
		return fmt.Errorf("jetstream: state bucket: %w", err)
	}
	e, err := s.state.Get(ctx, "layout")
	if err != nil {
		return fmt.Errorf("jetstream: state bucket: %w", err)
	}
	var have layout
	if err := json.Unmarshal(e.Value(), &have); err != nil {
		return fmt.Errorf("jetstream: state bucket: layout: %w", err)
	}
	if have != want {
		return optErr("Partitions", "%d, but spool %s was created with %d partitions", want.Partitions, s.cfg.name, have.Partitions)
	}
	return nil
}

// redact drops user info from a URL for error messages.
func redact(url string) string {
	var out []string
	for u := range strings.SplitSeq(url, ",") {
		if i := strings.Index(u, "@"); i >= 0 {
			if j := strings.Index(u, "://"); j >= 0 && j < i {
				u = u[:j+3] + "***" + u[i:]
			}
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}

// Put stores u: it publishes u as JSON to its partition's subject with
// the header Nats-Msg-Id: <update_id> and returns once the stream
// acknowledged it (the server wrote it; see SyncAlways for when it is on
// disk; with Replicas(3) a majority of nodes holds it). An update_id put
// again within DedupeWindow is acknowledged and stored once. u's
// partition is the hash of its chat (spool.Lane) modulo Partitions, or of
// its update_id when it has no chat. Put waits at most until ctx ends (or
// nats.go's 5 s request timeout when ctx has no deadline).
func (s *Spool) Put(ctx context.Context, u *tg.Update) error {
	if u == nil || u.UpdateID <= 0 {
		id := int64(0)
		if u != nil {
			id = u.UpdateID
		}
		return fmt.Errorf("jetstream: put: update_id %d: want a positive update_id", id)
	}
	if s.isClosed() {
		return ErrClosed
	}
	data, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("jetstream: put update %d: %w", u.UpdateID, err)
	}
	subj := s.subject + strconv.Itoa(s.partitionOf(u))
	ack, err := s.js.Publish(ctx, subj, data, natsjs.WithMsgID(strconv.FormatInt(u.UpdateID, 10)))
	if err != nil {
		return fmt.Errorf("jetstream: put update %d: %w", u.UpdateID, err)
	}
	s.seenSeq(ack.Sequence)
	return nil
}

// partitionOf is u's partition: a fixed hash (splitmix64's finalizer) of
// its lane key, or of its update_id when it has none, modulo Partitions.
// It must never change: stored updates were placed by it.
func (s *Spool) partitionOf(u *tg.Update) int {
	key, unordered := spool.Lane(u)
	if unordered {
		key = u.UpdateID
	}
	return partitionOf(key, s.cfg.partitions)
}

func partitionOf(key int64, n int) int {
	x := uint64(key)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % uint64(n))
}

func (s *Spool) seenSeq(seq uint64) {
	for {
		old := s.lastSeq.Load()
		if seq <= old || s.lastSeq.CompareAndSwap(old, seq) {
			return
		}
	}
}

// noteStream records what a stream lookup tells: depth and last sequence.
func (s *Spool) noteStream(info *natsjs.StreamInfo) {
	s.depth.Store(int64(info.State.Msgs))
	s.seenSeq(info.State.LastSeq)
}

// lookStream looks the stream up (at most once per checkCache unless
// force) and remembers the outcome for Check; a stream that no longer
// exists is fatal.
func (s *Spool) lookStream(ctx context.Context, force bool) error {
	s.mu.Lock()
	if !force && time.Since(s.checkedAt) < checkCache {
		err := s.checkErr
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	info, err := s.stream.Info(ctx)
	if err == nil {
		s.noteStream(info)
	} else {
		err = fmt.Errorf("jetstream: stream %s: %w", s.cfg.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkedAt, s.checkErr = time.Now(), err
	if errors.Is(err, natsjs.ErrStreamNotFound) && s.fatal == nil {
		s.fatal = err
		s.wakeLocked()
	}
	return err
}

// Check reports whether the spool works: the connection is up and the
// stream answers (a lookup at most once a second; the keeper refreshes
// it too). It blocks at most until ctx ends.
func (s *Spool) Check(ctx context.Context) error {
	s.mu.Lock()
	closed, fatal := s.closed, s.fatal
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case fatal != nil:
		return fatal
	}
	if st := s.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("jetstream: connection %v", st)
	}
	return s.lookStream(ctx, false)
}

// Stats reports the spool's counters: Depth is the stream's message
// count at the last lookup (done updates are purged every few seconds,
// so it approximates the updates not yet done), Redelivered the
// deliveries flagged Redelivered since Open, LeaseChanges the partition
// and poll leases this instance gained or lost, Leading whether it holds
// the poll lease.
func (s *Spool) Stats() spool.Stats {
	s.mu.Lock()
	leading := s.poll != nil && s.poll.held()
	s.mu.Unlock()
	return spool.Stats{
		Depth:        s.depth.Load(),
		Redelivered:  s.redeliv.Load(),
		LeaseChanges: s.changes.Load(),
		Leading:      leading,
	}
}

// JetStream returns the spool's JetStream context, for other state that
// shares its connection (sessions, the shared flood limiter). It stays
// usable until Close.
func (s *Spool) JetStream() natsjs.JetStream { return s.js }

// Conn returns the spool's NATS connection (closed by Close).
func (s *Spool) Conn() *nats.Conn { return s.nc }

// Instance returns this instance's id (Instance option or random).
func (s *Spool) Instance() string { return s.cfg.instance }

// Instances returns the number of live instances consuming from the
// spool (members with a fresh heartbeat, as this instance's watcher sees
// them), at least 1.
func (s *Spool) Instances() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.membersLocked()
}

func (s *Spool) membersLocked() int {
	n, self := 0, false
	for k := range s.keys {
		if id, ok := strings.CutPrefix(k, "member."); ok && s.liveLocked(k) {
			n++
			self = self || id == s.cfg.instance
		}
	}
	if !self {
		n++ // this instance counts even before its heartbeat is seen
	}
	return n
}

// seen is a key of the leases bucket as the watcher last saw it.
type seen struct {
	value string
	at    time.Time
}

// liveLocked reports whether key is held as far as the watcher knows:
// seen, and written again within LeaseTTL + LeaseTTL/3. Every holder
// rewrites its keys every LeaseTTL/3, so an older key has expired even
// if the watcher missed its expiry marker (a watcher that restarts
// after a node failure can skip markers already removed). s.mu is held.
func (s *Spool) liveLocked(key string) bool {
	e, ok := s.keys[key]
	return ok && time.Since(e.at) < s.cfg.leaseTTL+s.cfg.leaseTTL/3
}

func (s *Spool) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// wakeLocked wakes everyone waiting for a change of the view, the
// partitions or the fatal error; s.mu is held.
func (s *Spool) wakeLocked() {
	close(s.viewWake)
	s.viewWake = make(chan struct{})
}

// Close stops the spool: Consume and Lead return, the partitions are
// released after a last commit of their watermarks (deliveries not Done
// by now come again, flagged Redelivered, to the next owner), the poll
// lease is released (another instance takes both over at once), the
// connection is drained and closed and the embedded server shut down.
// After Close returns no goroutine of the spool remains. Done may still
// be called; it changes nothing stored. Close blocks for at most a few
// seconds when the server does not answer; it is idempotent.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.wakeLocked()
	s.mu.Unlock()
	s.cancel()
	s.consumeWG.Wait() // Consume returned, its readers ended
	s.bg.Wait()        // the watcher and the keeper ended

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	s.mu.Lock()
	parts := make([]*partition, 0, len(s.parts))
	for _, p := range s.parts {
		parts = append(parts, p)
	}
	s.parts = map[int]*partition{}
	poll := s.poll
	s.poll = nil
	s.mu.Unlock()
	for _, p := range parts {
		if err := s.releasePartition(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	if poll != nil {
		if err := poll.release(ctx); err != nil {
			errs = append(errs, err)
		}
		s.changes.Add(1)
	}
	if err := s.leases.Delete(ctx, "member."+s.cfg.instance); err != nil && !errors.Is(err, natsjs.ErrKeyNotFound) {
		errs = append(errs, err)
	}
	if err := s.nc.Drain(); err != nil {
		s.nc.Close()
	}
	tick := time.NewTicker(5 * time.Millisecond)
	for !s.nc.IsClosed() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			s.nc.Close()
		}
	}
	tick.Stop()
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
	return errors.Join(errs...)
}

// setupAttempt bounds one request that sets up the stream or a bucket in
// Open (sent again without an answer, within OpenTimeout).
const setupAttempt = 3 * time.Second
