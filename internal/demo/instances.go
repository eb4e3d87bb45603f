package demo

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/jetstream"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// InstanceEnv is the environment variable that makes a tidygram process
// one instance of RunInstances: it holds the instance's InstanceConfig
// as JSON.
const InstanceEnv = "TIDYGRAM_DEMO_INSTANCE"

// ClusterNodes is the size of the JetStream cluster RunInstances starts;
// streams and buckets have a replica on every node.
const ClusterNodes = 3

// InstanceConfig is what one instance of the demo bot runs with.
type InstanceConfig struct {
	API, Token string // the emulator
	NATS       string // the cluster's URLs, comma-separated
	Replicas   int
	Instance   string // the instance's name in the spool's leases
}

// Events an instance writes, one per line, for RunInstances.
const (
	eventReady   = "ready"   // Run started (getMe answered)
	eventLead    = "lead"    // holds the poll lease
	eventFollow  = "follow"  // does not
	eventHandled = "handled" // <update_id> <chat_id> <unix ns>: its handling ended
	eventAgain   = "again"   // <update_id>: delivered flagged Redelivered
)

// RunInstance runs one instance of the demo bot until ctx ends: the
// spool, the sessions and the flood limits are on the JetStream cluster
// at cfg.NATS and shared with the other instances. It writes its events
// to events, one per line, and its errors to logw. It returns nil after a
// clean stop; an error when anything failed, goroutines of the bot
// included (tidygram.WithStrictLeaks).
func RunInstance(ctx context.Context, cfg InstanceConfig, events, logw io.Writer) error {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelError}))
	ev := &eventWriter{w: events}
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	sp, err := jetstream.Open(openCtx, jetstream.URL(cfg.NATS), jetstream.Replicas(cfg.Replicas),
		jetstream.Instance(cfg.Instance), jetstream.Logger(log))
	if err != nil {
		return err
	}
	defer sp.Close()
	store, err := jetstream.NewSessionStore(openCtx, sp.JetStream(), jetstream.StoreReplicas(cfg.Replicas))
	if err != nil {
		return err
	}
	lim, err := jetstream.NewLimiter(openCtx, sp.JetStream(), jetstream.LimiterReplicas(cfg.Replicas),
		jetstream.LimiterRules(GlobalRule(),
			limit.Rule{Every: limit.DefaultChatEvery, Burst: limit.DefaultChatBurst},
			limit.Rule{Every: limit.DefaultGroupEvery, Burst: limit.DefaultGroupBurst}))
	if err != nil {
		return err
	}
	flood, err := FloodControl(lim)
	if err != nil {
		return err
	}
	bot, err := NewSharedBot(cfg.Token, store,
		tidygram.WithBaseURL(cfg.API),
		tidygram.WithSpool(sp),
		tidygram.WithFloodControl(flood),
		tidygram.WithObserver(&handledObserver{ev: ev}),
		tidygram.WithStrictLeaks(),
		tidygram.WithLogger(log),
		tidygram.WithErrorHandler(func(c *tidygram.Context, err error) {
			log.Error("demo instance: handler failed", "instance", cfg.Instance, "route", c.Route, "update_id", c.Update.UpdateID, "error", err)
		}),
		tidygram.WithPollTimeout(10*time.Second),
		tidygram.WithBackoff(50*time.Millisecond, time.Second),
		tidygram.WithWorkers(64),
	)
	if err != nil {
		return err
	}
	bot.Use(func(next tidygram.Handler) tidygram.Handler {
		return func(c *tidygram.Context) error {
			if c.Redelivered {
				ev.printf("%s %d", eventAgain, c.Update.UpdateID)
			}
			return next(c)
		}
	})

	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { watchLead(watchCtx, bot, sp, ev) })
	err = bot.Run(ctx)
	stopWatch()
	wg.Wait()
	if cerr := sp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// watchLead reports when bot is up and whether it holds the poll lease,
// until ctx ends.
func watchLead(ctx context.Context, bot *tidygram.Bot, sp *jetstream.Spool, ev *eventWriter) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	ready, leading := false, false
	for {
		if !ready && bot.Me() != nil {
			ready = true
			ev.printf("%s", eventReady)
		}
		if l := sp.Stats().Leading; ready && l != leading {
			leading = l
			ev.printf("%s", map[bool]string{true: eventLead, false: eventFollow}[l])
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// eventWriter writes whole lines, one at a time, unbuffered: a line
// written before a SIGKILL reached the pipe.
type eventWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (e *eventWriter) printf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.w, format+"\n", args...)
}

// handledObserver reports every update whose handling ended.
type handledObserver struct {
	observe.Nop
	ev *eventWriter
}

func (o *handledObserver) UpdateHandled(u *tg.Update, _ string, _ time.Duration, _ error) {
	var chat int64
	if c := u.Chat(); c != nil {
		chat = c.ID
	}
	o.ev.printf("%s %d %d %d", eventHandled, u.UpdateID, chat, time.Now().UnixNano())
}

// InstancesConfig configures RunInstances. Zero fields take Config's
// defaults.
type InstancesConfig struct {
	Instances int           // bot processes (at least 2)
	Duration  time.Duration // how long users act (DefaultDuration)
	Load      LoadConfig    // the users (Scenario is always ScenarioDemo)
	Seed      uint64
	Settle    time.Duration // bound of the wait for every update to be handled (DefaultSettle)
	// Command returns the process of one instance: a tidygram binary
	// with InstanceEnv set to cfg as JSON (see InstanceCommand).
	Command func(cfg InstanceConfig) (*exec.Cmd, error)
	// Out receives the report, Progress (if not nil) a line a second,
	// Log the instances' errors (default Progress, else discarded).
	Out, Progress, Log io.Writer
}

// InstancesReport is what RunInstances measured.
type InstancesReport struct {
	Instances   int
	Users       int
	Duration    time.Duration
	Interrupted bool

	Killed       string        // the instance killed with SIGKILL
	KilledLeader bool          // it held the poll lease
	KilledAt     time.Duration // after the users started

	Load       LoadStats
	Sent       int64            // updates the emulator enqueued
	Handled    int64            // distinct updates whose handling ended, on any instance
	ByInstance map[string]int64 // handlings per instance, repeats included
	Duplicates int64            // handlings beyond the first
	Again      int64            // deliveries flagged Redelivered
	Lost       int64            // sent and never handled
	Chats      int              // chats with handled updates
	Disordered []string         // chats whose updates were first handled out of order
	Emulator   tgtest.Counters
	Exits      map[string]string // per instance: "killed", "exit 0", or the error
	ExitErrors int               // surviving instances that did not exit 0
	Elapsed    time.Duration
}

// Problems lists the broken promises.
func (r *InstancesReport) Problems() []string {
	var p problems
	add := p.add
	add(r.Lost == 0, "%d updates lost", r.Lost)
	add(len(r.Disordered) == 0, "per-chat order broken in %d chats", len(r.Disordered))
	add(r.Emulator.Requests429() == 0, "%d × 429 from the emulator", r.Emulator.Requests429())
	add(r.Load.Wrong == 0, "%d wrong replies", r.Load.Wrong)
	add(r.Load.Missing == 0, "%d missing replies", r.Load.Missing)
	add(r.Load.Refused == 0, "%d updates refused by the emulator", r.Load.Refused)
	add(r.Emulator.UpdatesPending == 0, "%d updates never confirmed", r.Emulator.UpdatesPending)
	add(r.ExitErrors == 0, "%d instances did not stop cleanly", r.ExitErrors)
	add(r.Killed != "", "no instance was killed")
	return p
}

// InstanceCommand returns the command of one instance: exe (a tidygram
// binary) running `demo` with InstanceEnv set, so that it runs
// RunInstance instead of the demo.
func InstanceCommand(exe string, env []string) func(cfg InstanceConfig) (*exec.Cmd, error) {
	return func(cfg InstanceConfig) (*exec.Cmd, error) {
		raw, err := json.Marshal(cfg)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(exe, "demo")
		cmd.Env = append(slices.Clone(env), InstanceEnv+"="+string(raw))
		return cmd, nil
	}
}

// RunInstances runs the demo bot as cfg.Instances processes sharing a
// JetStream cluster of ClusterNodes nodes started in this process (in a
// temporary directory, removed at the end): one spool (R3), one session
// bucket, one flood limiter. Simulated users of the emulator, whose flood
// control is on, use the bot for cfg.Duration; halfway, the instance
// holding the poll lease is killed with SIGKILL. Then it waits for every
// update to be handled, stops the other instances with SIGTERM and
// reports: updates lost, handled twice, per-chat order, 429s, and how each
// instance exited. RunInstances blocks until every process and goroutine
// it started has ended.
func RunInstances(ctx context.Context, cfg InstancesConfig) (*InstancesReport, error) {
	if cfg.Instances < 2 {
		return nil, fmt.Errorf("demo: %d instances: want at least 2", cfg.Instances)
	}
	if cfg.Command == nil {
		return nil, errors.New("demo: no Command for the instances")
	}
	base := Config{Duration: cfg.Duration, Load: cfg.Load, Seed: cfg.Seed, Settle: cfg.Settle,
		Out: cfg.Out, Progress: cfg.Progress, Log: cfg.Log}.withDefaults()
	base.Load.Redeliveries = true
	began := time.Now()
	rep := &InstancesReport{Instances: cfg.Instances, Users: base.Load.Users, Duration: base.Duration,
		ByInstance: map[string]int64{}, Exits: map[string]string{}}

	srv, err := tgtest.New(tgtest.WithSeed(base.Seed), tgtest.WithFlood(tgtest.FloodLimits{PerSecond: 1000}))
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	cl, err := jetstream.StartCluster(ctx, ClusterNodes, "")
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	h := &handledLog{first: map[int64]handling{}, count: map[int64]int{}}
	procs := make([]*instanceProc, cfg.Instances)
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.kill()
			}
		}
	}()
	// The first instance creates the stream and the buckets, the others
	// start once it runs.
	for i := range procs {
		icfg := InstanceConfig{API: srv.URL(), Token: srv.Token(), NATS: strings.Join(cl.URLs(), ","),
			Replicas: ClusterNodes, Instance: fmt.Sprintf("i%d", i+1)}
		p, err := startInstanceProc(cfg.Command, icfg, h, base.Log)
		if err != nil {
			return nil, err
		}
		procs[i] = p
		if i == 0 || i == len(procs)-1 {
			for _, p := range procs[:i+1] {
				if err := p.waitReady(ctx, time.Minute); err != nil {
					return nil, err
				}
			}
		}
	}

	load := NewLoad(srv, base.Load)
	stopUsers := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { load.Run(ctx, stopUsers) })
	start := time.Now()
	progCtx, stopProg := context.WithCancel(ctx)
	wg.Go(func() { progress(progCtx, base, start, procs, h, srv) })

	rep.Interrupted = !sleepCtx(ctx, base.Duration/2)
	if !rep.Interrupted {
		victim := procs[0]
		for _, p := range procs {
			if p.leading.Load() {
				victim = p
			}
		}
		rep.KilledLeader = victim.leading.Load()
		victim.kill()
		rep.Killed, rep.KilledAt = victim.id, time.Since(start)
		rep.Interrupted = !sleepCtx(ctx, base.Duration-time.Since(start))
	}
	close(stopUsers)
	// Every update the users sent must be handled (the killed instance's
	// by the others).
	settle := time.Now().Add(base.Settle)
	for h.distinct() < srv.Counters().UpdatesEnqueued && time.Now().Before(settle) && ctx.Err() == nil {
		sleepCtx(ctx, 20*time.Millisecond)
	}
	stopProg()
	wg.Wait()

	// A graceful stop of the others, bounded.
	for _, p := range procs {
		if p.id != rep.Killed {
			p.terminate()
		}
	}
	for _, p := range procs {
		switch err := p.wait(time.Minute); {
		case p.id == rep.Killed:
			rep.Exits[p.id] = "killed"
		case err == nil:
			rep.Exits[p.id] = "exit 0"
		default:
			rep.Exits[p.id] = err.Error()
			rep.ExitErrors++
		}
	}
	rep.Load = load.Stats()
	rep.Emulator = srv.Counters()
	h.fill(rep)
	rep.Elapsed = time.Since(began)
	rep.WriteText(base.Out)
	return rep, nil
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// progress prints a line a second until ctx ends.
func progress(ctx context.Context, cfg Config, start time.Time, procs []*instanceProc, h *handledLog, srv *tgtest.Server) {
	if cfg.Progress == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		alive, leader := 0, "-"
		for _, p := range procs {
			if !p.exitedNow() {
				alive++
				if p.leading.Load() {
					leader = p.id
				}
			}
		}
		handled, dups := h.totals()
		c := srv.Counters()
		fmt.Fprintf(cfg.Progress, "%3.0fs/%v  instances %d/%d (polling: %s)  sent %d  handled %d  twice %d  429s %d\n",
			time.Since(start).Seconds(), cfg.Duration, alive, len(procs), leader, c.UpdatesEnqueued, handled, dups, c.Requests429())
	}
}

// handling is one update's first handling.
type handling struct {
	chat int64
	at   int64 // when it ended, Unix ns
}

// handledLog gathers the instances' "handled" events.
type handledLog struct {
	mu    sync.Mutex
	first map[int64]handling // by update_id
	count map[int64]int
	by    map[string]int64
	again int64
}

func (h *handledLog) add(instance string, id, chat, at int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.first[id]; !ok {
		h.first[id] = handling{chat: chat, at: at}
	}
	h.count[id]++
	if h.by == nil {
		h.by = map[string]int64{}
	}
	h.by[instance]++
}

func (h *handledLog) addAgain() {
	h.mu.Lock()
	h.again++
	h.mu.Unlock()
}

func (h *handledLog) distinct() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.first))
}

func (h *handledLog) totals() (distinct, dups int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.count {
		dups += int64(n - 1)
	}
	return int64(len(h.first)), dups
}

// fill computes the report's figures: duplicates, lost, and per-chat
// order (each chat's updates, in the order their first handling ended,
// must have increasing update_ids: Telegram numbers a chat's updates in
// the order they were sent).
func (h *handledLog) fill(r *InstancesReport) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.Handled = int64(len(h.first))
	for _, n := range h.count {
		r.Duplicates += int64(n - 1)
	}
	for k, v := range h.by {
		r.ByInstance[k] = v
	}
	r.Again = h.again
	r.Sent = r.Emulator.UpdatesEnqueued
	r.Lost = max(r.Sent-r.Handled, 0)
	type entry struct{ id, at int64 }
	chats := map[int64][]entry{}
	for id, f := range h.first {
		chats[f.chat] = append(chats[f.chat], entry{id, f.at})
	}
	r.Chats = len(chats)
	for chat, es := range chats {
		slices.SortFunc(es, func(a, b entry) int { return cmp.Compare(a.at, b.at) })
		if !slices.IsSortedFunc(es, func(a, b entry) int { return cmp.Compare(a.id, b.id) }) {
			r.Disordered = append(r.Disordered, strconv.FormatInt(chat, 10))
		}
	}
	slices.Sort(r.Disordered)
}

// WriteText writes the report for people, with its verdict.
func (r *InstancesReport) WriteText(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("tidygram demo: %d instances on a %d-node JetStream cluster, %d users for %v%s", r.Instances, ClusterNodes, r.Users, r.Duration,
		map[bool]string{true: " (interrupted)"}[r.Interrupted])
	if r.Killed != "" {
		p("  killed %s%s with SIGKILL %v after the users started", r.Killed, map[bool]string{true: " (the poll leader)"}[r.KilledLeader], r.KilledAt.Round(100*time.Millisecond))
	}
	p("")
	p("  updates sent by users     %d", r.Sent)
	by := make([]string, 0, len(r.ByInstance))
	for _, id := range slices.Sorted(maps.Keys(r.ByInstance)) {
		by = append(by, fmt.Sprintf("%s %d", id, r.ByInstance[id]))
	}
	p("  handled                   %d (handlings by instance: %s)", r.Handled, strings.Join(by, ", "))
	p("  lost                      %d", r.Lost)
	p("  duplicates                %d (handled again by another instance after the kill; %d deliveries flagged Redelivered)", r.Duplicates, r.Again)
	if len(r.Disordered) == 0 {
		p("  per-chat order            kept in all %d chats", r.Chats)
	} else {
		p("  per-chat order            broken in %d of %d chats (%s)", len(r.Disordered), r.Chats, strings.Join(r.Disordered[:min(5, len(r.Disordered))], ", "))
	}
	p("  replies checked correct   %d of %d (wrong %d, missing %d; answers repeated and skipped %d)", r.Load.Correct, r.Load.Checked, r.Load.Wrong, r.Load.Missing, r.Load.Repeated)
	p("  429s                      %d (emulator flood control on: 1 msg/s per chat, 20/min per group, 1000/s per bot)", r.Emulator.Requests429())
	p("  updates unconfirmed       %d", r.Emulator.UpdatesPending)
	exits := make([]string, 0, len(r.Exits))
	for _, id := range slices.Sorted(maps.Keys(r.Exits)) {
		exits = append(exits, id+" "+r.Exits[id])
	}
	p("  instances                 %s", strings.Join(exits, ", "))
	p("  run took                  %v", r.Elapsed.Round(100*time.Millisecond))
	for _, n := range r.Load.Notes {
		p("  ! %s", n)
	}
	switch probs := r.Problems(); {
	case r.Interrupted:
		p("\nInterrupted: no verdict.")
	case len(probs) > 0:
		p("\nFAIL: %s", strings.Join(probs, "; "))
	default:
		p("\nOK: nothing lost, per-chat order kept, no 429, every surviving instance stopped cleanly.")
	}
}

// instanceProc is one instance's process.
type instanceProc struct {
	id      string
	cmd     *exec.Cmd
	leading atomic.Bool
	ready   chan struct{}
	exited  chan struct{}
	err     error // Wait's, once exited is closed
}

// startInstanceProc starts an instance; its events feed h, its stderr
// goes to logw.
func startInstanceProc(command func(InstanceConfig) (*exec.Cmd, error), cfg InstanceConfig, h *handledLog, logw io.Writer) (*instanceProc, error) {
	cmd, err := command(cfg)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logw
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &instanceProc{id: cfg.Instance, cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("demo: start instance %s: %w", cfg.Instance, err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		p.read(out, h)
	}()
	go func() {
		<-read // Wait closes the pipe: read it to the end first
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *instanceProc) read(r io.Reader, h *handledLog) {
	sc := bufio.NewScanner(r)
	readyClosed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case eventReady:
			if !readyClosed {
				readyClosed = true
				close(p.ready)
			}
		case eventLead:
			p.leading.Store(true)
		case eventFollow:
			p.leading.Store(false)
		case eventHandled:
			if len(f) == 4 {
				id, _ := strconv.ParseInt(f[1], 10, 64)
				chat, _ := strconv.ParseInt(f[2], 10, 64)
				at, _ := strconv.ParseInt(f[3], 10, 64)
				h.add(p.id, id, chat, at)
			}
		case eventAgain:
			h.addAgain()
		}
	}
	p.leading.Store(false)
}

func (p *instanceProc) waitReady(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.ready:
		return nil
	case <-p.exited:
		return fmt.Errorf("demo: instance %s exited before it was ready: %v", p.id, p.err)
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("demo: instance %s not ready within %v", p.id, d)
	}
}

func (p *instanceProc) exitedNow() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *instanceProc) kill() {
	if !p.exitedNow() {
		_ = p.cmd.Process.Kill()
	}
	<-p.exited
}

func (p *instanceProc) terminate() {
	if !p.exitedNow() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// wait waits up to d for the process to exit (then kills it) and returns
// how it exited.
func (p *instanceProc) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.err
	case <-t.C:
		p.kill()
		return fmt.Errorf("did not stop within %v (killed)", d)
	}
}
