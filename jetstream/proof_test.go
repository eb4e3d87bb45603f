//go:build unix

package jetstream_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/jetstream"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/tgtest"
)

// proofMaxInHand is each instance's MaxInHand in the proof tests: it
// bounds what an instance holds undone, so what a crash can make come
// twice.
const proofMaxInHand = 500

// TestProofCluster is the scale-out proof: a 3-node JetStream cluster (R3
// stream and buckets) and 3 bot instances as separate processes, the
// emulator's flood control on; the users' texts arrive in rounds of one
// per chat per second (Telegram's per-chat rate). Once a third is
// answered the poll leader is killed with SIGKILL; once two thirds are,
// the node leading the stream is stopped abruptly. Then:
//
//   - every update is answered (0 lost), and in every chat the first
//     answers come in the order the texts were sent;
//   - duplicates are counted; each one is an answer to a delivery flagged
//     Redelivered, and there are at most MaxInHand per instance (what the
//     killed one held, plus what each held when the node stopped);
//   - the emulator answered no 429 (the bot-wide and per-chat budgets are
//     shared through the limiter's KV bucket, so a chat taken over at
//     failover gets no fresh burst);
//   - stopped with SIGTERM, each surviving instance closes every
//     connection to the emulator and exits 0 with no goroutine left.
//
// Load: TIDYGRAM_PROOF_UPDATES (default 20,000, the figure) over
// TIDYGRAM_PROOF_CHATS (500), 40 texts per chat; TIDYGRAM_PROOF_RATE
// (1000, Telegram's paid-broadcast ceiling; 30 would take 11 minutes) is
// the bot-wide limit, messages/s, of the emulator and of the bot. Under
// the race detector the defaults are 6,000 over 150 chats (still 40 per
// chat): the four processes then answer some 160 updates/s on 2 cores,
// and 20,000 would take 3.5 minutes.
func TestProofCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster and 3 bot processes")
	}
	leaktest.Check(t)
	counts := countsFromEnv(t, 20_000, 500, 1000)
	var margin time.Duration // the limiter's default
	if raceEnabled {
		counts = countsFromEnv(t, 6_000, 150, 1000)
		// A message reaches the emulator later after its turn on a
		// machine this loaded; the margin is the limiter's allowance
		// for that (see jetstream.Limiter).
		margin = 250 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	began := time.Now()

	cl := startCluster(t, 3)
	perChat := counts.updates / counts.chats
	srv := tgtest.NewServer(tgtest.WithTB(t),
		tgtest.WithFlood(tgtest.FloodLimits{PerSecond: float64(counts.rate)}),
		tgtest.WithHistoryLimit(4*perChat+2*proofMaxInHand))
	ld := newLoad(srv, counts)
	total := ld.total()

	// The first instance creates the stream and buckets; the other two
	// start once it is up. (Started at once, two of three time out in
	// Open: nats-server 2.15.3 leaves concurrent creates of one new R3
	// stream unanswered but for one.)
	ins := make([]*instance, 3)
	for i := range ins {
		ins[i] = startInstance(t, childConfig{
			API: srv.URL(), Token: srv.Token(),
			NATS: strings.Join(cl.URLs(), ","), Replicas: 3,
			Instance: fmt.Sprintf("i%d", i+1), MaxInHand: proofMaxInHand,
			Rate: counts.rate, Workers: counts.chats, LimiterMargin: margin,
			Trace: traceFile(t, fmt.Sprintf("i%d", i+1)),
		})
		if i == 0 || i == len(ins)-1 {
			for _, in := range ins[:i+1] {
				if err := in.waitFor(ctx, in.ready, `"ready"`); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	started := time.Now()

	// One round (a text to every chat) per second, slower if the
	// bot-wide limit cannot answer a round in a second.
	interval := max(time.Second, time.Duration(counts.chats)*time.Second/time.Duration(counts.rate))
	loadDone := make(chan error, 1)
	go func() { loadDone <- ld.run(ctx, interval) }()
	defer func() { cancel(); <-loadDone }()

	if err := wait.Context(ctx, func() bool { return ld.replies() >= int64(total/3) }); err != nil {
		t.Fatalf("a third answered: %v", err)
	}
	victim := ins[0]
	for _, in := range ins {
		if in.leading.Load() {
			victim = in
		}
	}
	victim.kill()
	killedAt, killedLeader := ld.replies(), victim.leading.Load()
	t.Logf("SIGKILL %s (poll leader: %t) at %d of %d answered, %v after start", victim.id, killedLeader, killedAt, total, time.Since(started).Round(time.Millisecond))

	if err := wait.Context(ctx, func() bool { return ld.replies() >= int64(2*total/3) }); err != nil {
		t.Fatalf("two thirds answered: %v", err)
	}
	node := streamLeader(ctx, t, cl)
	if err := cl.StopNode(node); err != nil {
		t.Fatal(err)
	}
	stoppedAt := ld.replies()
	t.Logf("stopped node %s (the stream's leader) at %d of %d answered, %v after start", cl.NodeName(node), stoppedAt, total, time.Since(started).Round(time.Millisecond))

	if err := <-loadDone; err != nil {
		t.Fatalf("load: %v", err)
	}
	loadDone <- nil // for the deferred receive
	// Generous: the backlog left when the last round was sent is
	// answered within seconds.
	settle, cancelSettle := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelSettle()
	if err := wait.Context(settle, func() bool {
		return ld.replies() >= int64(total) && ld.check().answered == total
	}); err != nil {
		v := ld.check()
		for _, in := range ins {
			t.Logf("instance %s output:\n%s", in.id, in.out.String())
		}
		_, js := connect(t, cl)
		t.Log(findInStream(ctx, js, v.lostKeys))
		t.Log(traceOf(t, v.lostKeys))
		if n, first := sendFailures(ins...); n > 0 {
			t.Logf("%d handlers failed to send their reply (an update whose handler failed is done: it does not come again); first failures: %v", n, first)
		}
		t.Fatalf("every update answered: %v: %d of %d answered (%d lost so far: %v; %d duplicates: %v)", err, v.answered, total, v.lost, v.missing, v.dups, v.doubled)
	}
	answeredIn := time.Since(started)

	var survivors []*instance
	for _, in := range ins {
		if in != victim {
			survivors = append(survivors, in)
		}
	}
	stopAll(ctx, t, srv, survivors...)

	v := ld.check()
	c := srv.Counters()
	bound := proofMaxInHand * len(ins)
	t.Logf("%d updates over %d chats answered in %v (cluster and instances up in %v before): lost %d, duplicates %d (%d flagged redelivered; bound %d), chats out of order %d, 429s %d (flood %d), unconfirmed %d",
		total, counts.chats, answeredIn.Round(time.Millisecond), started.Sub(began).Round(time.Millisecond),
		v.lost, v.dups, v.dups-v.unflagged, bound, v.disordered, c.Requests429(), c.FloodRejections, c.UpdatesPending)
	if v.lost != 0 || v.answered != total {
		t.Errorf("%d updates lost (%d of %d answered): %v", v.lost, v.answered, total, v.missing)
	}
	if n, first := sendFailures(ins...); n > 0 {
		t.Errorf("%d handlers failed to send their reply; first failures: %v", n, first)
	}
	if v.disordered != 0 {
		t.Errorf("per-chat order broken in %d chats, e.g. %s", v.disordered, v.example)
	}
	if v.dups > bound {
		t.Errorf("%d duplicates, more than the %d the instances can hold undone", v.dups, bound)
	}
	if v.unflagged != 0 {
		t.Errorf("%d duplicates answered a delivery not flagged Redelivered", v.unflagged)
	}
	if c.Requests429() != 0 || c.FloodRejections != 0 {
		t.Errorf("the emulator answered %d × 429 (%d by flood control)", c.Requests429(), c.FloodRejections)
	}
	if c.UpdatesPending != 0 {
		t.Errorf("%d updates never confirmed to the emulator", c.UpdatesPending)
	}
}

// streamLeader returns the index of the node leading the spool's stream.
func streamLeader(ctx context.Context, t *testing.T, cl *jetstream.Cluster) int {
	t.Helper()
	nc, err := nats.Connect(strings.Join(cl.URLs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, jetstream.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cl.Len() {
		if info.Cluster != nil && cl.NodeName(i) == info.Cluster.Leader {
			return i
		}
	}
	t.Fatalf("stream leader %+v is no node of the cluster", info.Cluster)
	return -1
}

// TestProofEmbeddedKills: one bot process with the embedded spool,
// killed with SIGKILL 10 times while updates keep coming and restarted on
// the same directory each time; then every update is answered (0 lost),
// in order in every chat, with the duplicates (answers to updates in hand
// at a kill) counted and bounded by MaxInHand per kill. Flood control is
// off: the subject is the spool.
func TestProofEmbeddedKills(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills bot processes")
	}
	leaktest.Check(t)
	const kills = 10
	counts := proofCounts{updates: 6000, chats: 100, rate: 1000}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	srv := tgtest.NewServer(tgtest.WithTB(t), tgtest.WithHistoryLimit(10*counts.updates/counts.chats))
	ld := newLoad(srv, counts)
	total := ld.total()
	cfg := childConfig{
		API: srv.URL(), Token: srv.Token(), Dir: t.TempDir(), Instance: "solo",
		MaxInHand: proofMaxInHand, NoFlood: true,
		// The killed process's leases expire before its successor (same
		// name) can take them: a short TTL keeps 10 restarts quick.
		LeaseTTL: time.Second,
	}
	began := time.Now()
	loadDone := make(chan error, 1)
	loadCtx, stopLoad := context.WithCancel(ctx)
	go func() { loadDone <- ld.run(loadCtx, 250*time.Millisecond) }()
	defer func() { stopLoad(); <-loadDone }()

	var atKill []int64
	for k := 1; k <= kills; k++ {
		in := startInstance(t, cfg)
		if err := in.waitFor(ctx, in.ready, `"ready"`); err != nil {
			t.Fatal(err)
		}
		mark := int64(k * total / (kills + 2))
		if err := wait.Context(ctx, func() bool { return ld.replies() >= mark }); err != nil {
			t.Fatalf("kill %d: %d answered: %v", k, mark, err)
		}
		in.kill()
		atKill = append(atKill, ld.replies())
	}
	if last := atKill[kills-1]; last >= int64(total) {
		t.Fatalf("the last kill came after all %d updates were answered: the load is too small to kill under load", total)
	}
	in := startInstance(t, cfg)
	if err := wait.Context(ctx, func() bool {
		return ld.replies() >= int64(total) && ld.check().answered == total
	}); err != nil {
		v := ld.check()
		t.Fatalf("every update answered: %v: %d of %d answered (%d lost so far)", err, v.answered, total, v.lost)
	}
	stopAll(ctx, t, srv, in)

	v := ld.check()
	bound := proofMaxInHand * kills
	t.Logf("%d updates over %d chats, %d SIGKILLs (answered at each: %v): all answered in %v; lost %d, duplicates %d (%d flagged redelivered; bound %d), chats out of order %d",
		total, counts.chats, kills, atKill, time.Since(began).Round(time.Millisecond), v.lost, v.dups, v.dups-v.unflagged, bound, v.disordered)
	if v.lost != 0 || v.answered != total {
		t.Errorf("%d updates lost (%d of %d answered): %v", v.lost, v.answered, total, v.missing)
	}
	if v.disordered != 0 {
		t.Errorf("per-chat order broken in %d chats, e.g. %s", v.disordered, v.example)
	}
	if v.dups > bound {
		t.Errorf("%d duplicates, more than MaxInHand × kills = %d", v.dups, bound)
	}
	if v.unflagged != 0 {
		t.Errorf("%d duplicates answered a delivery not flagged Redelivered", v.unflagged)
	}
	if p := srv.Pending(); p != 0 {
		t.Errorf("%d updates never confirmed to the emulator", p)
	}
}
