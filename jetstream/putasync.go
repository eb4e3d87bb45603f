package jetstream

import (
	"context"
	"fmt"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tidygram/tidygram/tg"
)

// putAhead bounds the PutAsync calls waiting for their acknowledgement;
// putAckWait is how long one may wait before it is reported failed (the
// bot then puts the update again: the message id makes that a no-op if
// the first was stored).
const (
	putAhead   = 256
	putAckWait = 5 * time.Second
)

// spoolLabels are the pprof labels of the goroutines PutAsync starts.
var spoolLabels = pprof.Labels("component", "jetstream-spool")

// pendingPut is a PutAsync waiting for the stream's acknowledgement.
type pendingPut struct {
	f      natsjs.PubAckFuture
	id     int64
	stored func(error)
}

// asyncPuts is the queue of puts waiting for their acknowledgement and the
// one goroutine that waits for them in order, started by the first
// PutAsync and ended by Close.
type asyncPuts struct {
	once  sync.Once
	warm  atomic.Bool     // a publish ran: nats.go's async machinery is started
	slots chan struct{}   // one per put published and not yet settled
	q     chan pendingPut // the published puts, in order
}

// PutAsync is Put without waiting (spool.AsyncPutter): it publishes u and
// returns; stored is called once the stream acknowledged it (nil), refused
// it, or gave no answer within 5 s (an error). At most 256 puts wait at
// once: PutAsync blocks beyond. stored is called on the spool's
// acknowledgement goroutine, in the order of the PutAsync calls; it must
// not block for long.
func (s *Spool) PutAsync(ctx context.Context, u *tg.Update, stored func(error)) error {
	if u == nil || u.UpdateID <= 0 {
		return s.Put(ctx, u) // the same refusal
	}
	if s.isClosed() {
		return ErrClosed
	}
	data, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("jetstream: put update %d: %w", u.UpdateID, err)
	}
	// The first call starts the acknowledgement goroutine, and nats.go
	// its reply subscription's: with the spool's labels, not the
	// caller's (a bot's poller), since they belong to the spool and
	// outlive the caller until Close.
	s.puts.once.Do(func() {
		pprof.Do(context.Background(), spoolLabels, func(context.Context) {
			s.puts.slots = make(chan struct{}, putAhead)
			s.puts.q = make(chan pendingPut, putAhead)
			s.bg.Add(1)
			go s.acknowledge()
		})
	})
	select {
	case s.puts.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return ErrClosed
	}
	msg := &nats.Msg{Subject: s.subject + strconv.Itoa(s.partitionOf(u)), Data: data}
	var f natsjs.PubAckFuture
	publish := func(context.Context) {
		f, err = s.js.PublishMsgAsync(msg, natsjs.WithMsgID(strconv.FormatInt(u.UpdateID, 10)))
	}
	if s.puts.warm.Load() {
		publish(ctx)
	} else {
		pprof.Do(context.Background(), spoolLabels, publish) // see above
		s.puts.warm.Store(true)
	}
	if err != nil {
		<-s.puts.slots
		return fmt.Errorf("jetstream: put update %d: %w", u.UpdateID, err)
	}
	s.puts.q <- pendingPut{f: f, id: u.UpdateID, stored: stored} // never blocks: a slot is held
	return nil
}

// acknowledge waits for the published puts' acknowledgements, in order,
// until Close; puts still waiting then are reported failed with ErrClosed
// (the bot puts them again, or leaves them unconfirmed to Telegram).
func (s *Spool) acknowledge() {
	defer s.bg.Done()
	t := time.NewTimer(putAckWait)
	defer t.Stop()
	for {
		select {
		case p := <-s.puts.q:
			s.settle(p, t)
		case <-s.ctx.Done():
			for {
				select {
				case p := <-s.puts.q:
					<-s.puts.slots
					p.stored(ErrClosed)
				default:
					return
				}
			}
		}
	}
}

// settle waits for p's outcome (at most putAckWait, on t) and reports it.
func (s *Spool) settle(p pendingPut, t *time.Timer) {
	t.Reset(putAckWait)
	var err error
	select {
	case ack := <-p.f.Ok():
		s.seenSeq(ack.Sequence)
	case e := <-p.f.Err():
		err = fmt.Errorf("jetstream: put update %d: %w", p.id, e)
	case <-t.C:
		err = fmt.Errorf("jetstream: put update %d: no acknowledgement in %v", p.id, putAckWait)
	case <-s.ctx.Done():
		err = ErrClosed
	}
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	<-s.puts.slots
	p.stored(err)
}
