//go:build unix

package jetstream_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/jetstream"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// instance is one bot process of a proof test: the test binary
// re-executed to run TestProofChild with a childConfig.
type instance struct {
	id  string
	cmd *exec.Cmd
	in  io.WriteCloser // the child returns once it is closed, after "stopped"
	out syncBuffer     // its stdout and stderr: errors only (and the test binary's PASS)

	ready, stopped chan struct{} // closed on the status lines
	leading        atomic.Bool
	failed         atomic.Pointer[string]
	sendErrs       atomic.Int64
	firstSendErr   atomic.Pointer[string]
	statusDone     chan struct{} // the status pipe reached EOF
	exited         chan struct{} // Wait returned; err is set
	err            error
}

// startInstance starts a bot process with cfg. The process is killed, if
// still running, and waited for at t's cleanup.
func startInstance(t *testing.T, cfg childConfig) *instance {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{id: cfg.Instance, ready: make(chan struct{}), stopped: make(chan struct{}),
		statusDone: make(chan struct{}), exited: make(chan struct{})}
	in.cmd = exec.Command(os.Args[0], "-test.run=^TestProofChild$", "-test.count=1", "-test.timeout=10m")
	in.cmd.Env = append(os.Environ(), proofChildEnv+"="+string(raw))
	in.cmd.ExtraFiles = []*os.File{w} // fd 3: the status lines
	in.cmd.Stdout, in.cmd.Stderr = &in.out, &in.out
	if in.in, err = in.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatal(err)
	}
	w.Close() // the child holds the write end now
	go in.readStatus(r)
	go func() {
		in.err = in.cmd.Wait()
		close(in.exited)
	}()
	t.Cleanup(func() {
		in.kill()
		<-in.statusDone
	})
	return in
}

func (in *instance) readStatus(r *os.File) {
	defer close(in.statusDone)
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		switch line := sc.Text(); {
		case line == statusReady:
			close(in.ready)
		case line == statusLead:
			in.leading.Store(true)
		case line == statusFollow:
			in.leading.Store(false)
		case line == statusStopped:
			close(in.stopped)
		case strings.HasPrefix(line, statusFailed):
			in.failed.Store(&line)
		case strings.HasPrefix(line, statusSendErr):
			in.sendErrs.Add(1)
			in.firstSendErr.CompareAndSwap(nil, &line)
		}
	}
}

// kill sends SIGKILL (no drain, no final commit, no lease released) and
// waits until the process is gone.
func (in *instance) kill() {
	select {
	case <-in.exited:
		return
	default:
	}
	_ = in.cmd.Process.Kill()
	in.in.Close()
	<-in.exited
}

// terminate sends SIGTERM: the child stops its bot and closes its spool.
func (in *instance) terminate() error { return in.cmd.Process.Signal(syscall.SIGTERM) }

// release lets a stopped child exit and returns how it exited.
func (in *instance) release(ctx context.Context) error {
	in.in.Close()
	select {
	case <-in.exited:
		return in.err
	case <-ctx.Done():
		return fmt.Errorf("instance %s did not exit: %w", in.id, ctx.Err())
	}
}

// waitFor waits for ch or the process's end or ctx, whichever first.
func (in *instance) waitFor(ctx context.Context, ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-in.exited:
		return fmt.Errorf("instance %s exited (%v) before %s:\n%s", in.id, in.err, what, in.out.String())
	case <-ctx.Done():
		return fmt.Errorf("instance %s: no %s: %w\n%s", in.id, what, ctx.Err(), in.out.String())
	}
}

// proofCounts are a proof test's load, tunable by environment variables
// (defaults: the figures).
type proofCounts struct {
	updates, chats, rate int
}

func countsFromEnv(t *testing.T, updates, chats, rate int) proofCounts {
	t.Helper()
	get := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	c := proofCounts{
		updates: get("TIDYGRAM_PROOF_UPDATES", updates),
		chats:   get("TIDYGRAM_PROOF_CHATS", chats),
		rate:    get("TIDYGRAM_PROOF_RATE", rate),
	}
	if c.updates < c.chats {
		t.Fatalf("%d updates over %d chats: want at least one per chat", c.updates, c.chats)
	}
	return c
}

// load is the users of a proof test: chats private chats, each sent the
// texts "1", "2", … perChat, one round (one text to every chat) per
// interval, so that each chat gets what its flood limit lets the bot
// answer.
type load struct {
	srv     *tgtest.Server
	users   []*tgtest.SimUser
	perChat int
	pushed  atomic.Int64
}

func newLoad(srv *tgtest.Server, c proofCounts) *load {
	l := &load{srv: srv, perChat: c.updates / c.chats}
	for i := range c.chats {
		l.users = append(l.users, srv.NewUser(fmt.Sprintf("u%d", i+1)))
	}
	return l
}

// total is the number of updates the load sends.
func (l *load) total() int { return l.perChat * len(l.users) }

// run sends the rounds, one per interval, until all are sent or ctx ends.
func (l *load) run(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for k := 1; k <= l.perChat; k++ {
		for _, u := range l.users {
			if _, err := u.Send(strconv.Itoa(k)); err != nil {
				return fmt.Errorf("round %d: %w", k, err)
			}
			l.pushed.Add(1)
		}
		if k == l.perChat {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// replies is the number of messages the bot sent, duplicates included.
func (l *load) replies() int64 {
	var n int64
	for _, c := range l.srv.Counters().MessagesPerChat {
		n += c
	}
	return n
}

// verdict is what the emulator's chats show of a proof run.
type verdict struct {
	answered   int // updates answered at least once
	lost       int // sent and never answered
	dups       int // answers beyond the first
	unflagged  int // of the duplicates, answers to a delivery not flagged Redelivered
	disordered int // chats whose first answers are not 1, 2, 3, … in order
	example    string
	missing    []string // the first chats with unanswered texts: "chat: [k …]"
	lostKeys   map[lostKey]bool
	doubled    []string // the first chats with duplicates: "chat: [k …]"
}

// check reads every chat: each reply carries the text it answers
// ("<k> r=<redelivered>"); the first answers to a chat must be 1, 2, …
// in this order, and every text must be answered.
func (l *load) check() verdict {
	var v verdict
	for _, u := range l.users {
		seen := map[int]bool{}
		var firsts, again []int
		for _, m := range l.srv.Messages(u.ChatID()) {
			num, flag, _ := strings.Cut(m.Text, " r=")
			k, err := strconv.Atoi(num)
			if err != nil {
				v.disordered++
				v.example = fmt.Sprintf("chat %d: reply %q", u.ChatID(), m.Text)
				continue
			}
			if seen[k] {
				again = append(again, k)
				v.dups++
				if flag != "true" {
					v.unflagged++
				}
				continue
			}
			seen[k] = true
			firsts = append(firsts, k)
		}
		v.answered += len(firsts)
		v.lost += l.perChat - len(firsts)
		if len(firsts) < l.perChat && len(v.missing) < 10 {
			var miss []int
			for k := 1; k <= l.perChat; k++ {
				if !seen[k] {
					miss = append(miss, k)
					if v.lostKeys == nil {
						v.lostKeys = map[lostKey]bool{}
					}
					v.lostKeys[lostKey{u.ChatID(), strconv.Itoa(k)}] = true
				}
			}
			v.missing = append(v.missing, fmt.Sprintf("%d: %v", u.ChatID(), miss))
		}
		if len(again) > 0 && len(v.doubled) < 10 {
			v.doubled = append(v.doubled, fmt.Sprintf("%d: %v", u.ChatID(), again))
		}
		if !slices.IsSorted(firsts) || (len(firsts) > 0 && firsts[len(firsts)-1] != len(firsts)) {
			v.disordered++
			if v.example == "" {
				v.example = fmt.Sprintf("chat %d: first answers %v", u.ChatID(), firsts)
			}
		}
	}
	return v
}

// stopAll stops instances gracefully (SIGTERM), checks that, with all of
// them stopped but still alive, the emulator has no connection open, then
// lets them exit and checks that each exited 0: its bot's Run returned
// nil (no goroutine of the bot left, WithStrictLeaks) and no goroutine at
// all was left in the process (the test binary's leak check).
func stopAll(ctx context.Context, t *testing.T, srv *tgtest.Server, ins ...*instance) {
	t.Helper()
	for _, in := range ins {
		if err := in.terminate(); err != nil {
			t.Errorf("SIGTERM to %s: %v", in.id, err)
		}
	}
	for _, in := range ins {
		if err := in.waitFor(ctx, in.stopped, `"stopped"`); err != nil {
			t.Error(err)
		}
	}
	if err := wait.Context(ctx, func() bool { return srv.Counters().OpenConns == 0 }); err != nil {
		t.Errorf("connections at the emulator closed: %v: %d open with every instance stopped", err, srv.Counters().OpenConns)
	}
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Go(func() {
			if err := in.release(ctx); err != nil {
				t.Errorf("instance %s: exit %v\n%s", in.id, err, in.out.String())
			}
			if f := in.failed.Load(); f != nil {
				t.Errorf("instance %s: %s", in.id, *f)
			}
		})
	}
	wg.Wait()
}

// lostKey names an unanswered text: its chat and the text.
type lostKey struct {
	chat int64
	text string
}

// findInStream reads the spool's stream (what is left of it: done
// updates are purged) and says where each lost text is stored, for the
// report of a failed run: in the stream (the consumers passed it by) or
// not (never stored, or purged as done).
func findInStream(ctx context.Context, js natsjs.JetStream, lost map[lostKey]bool) string {
	if len(lost) == 0 {
		return ""
	}
	s, err := js.Stream(ctx, jetstream.DefaultName)
	if err != nil {
		return fmt.Sprintf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Sprintf("stream info: %v", err)
	}
	found := map[lostKey]string{}
	if info.State.Msgs > 0 {
		c, err := s.OrderedConsumer(ctx, natsjs.OrderedConsumerConfig{})
		if err != nil {
			return fmt.Sprintf("ordered consumer: %v", err)
		}
		for read := uint64(0); read < info.State.Msgs && ctx.Err() == nil; {
			batch, err := c.Fetch(500, natsjs.FetchMaxWait(5*time.Second))
			if err != nil {
				return fmt.Sprintf("fetch: %v", err)
			}
			n := 0
			for m := range batch.Messages() {
				n++
				var u tg.Update
				if json.Unmarshal(m.Data(), &u) == nil && u.Message != nil {
					k := lostKey{u.Message.Chat.ID, u.Message.Text}
					if lost[k] {
						md, _ := m.Metadata()
						found[k] = fmt.Sprintf("update %d at stream seq %d on %s", u.UpdateID, md.Sequence.Stream, m.Subject())
					}
				}
			}
			if n == 0 {
				break
			}
			read += uint64(n)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "stream %s: %d messages, seq %d…%d;", jetstream.DefaultName, info.State.Msgs, info.State.FirstSeq, info.State.LastSeq)
	for k := range lost {
		where := found[k]
		if where == "" {
			where = "not in the stream"
		}
		fmt.Fprintf(&b, " chat %d text %q: %s;", k.chat, k.text, where)
	}
	return b.String()
}

// traceFile returns the trace file of instance id when
// TIDYGRAM_PROOF_TRACE names a directory ("" otherwise).
func traceFile(t *testing.T, id string) string {
	dir := os.Getenv("TIDYGRAM_PROOF_TRACE")
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, t.Name()+"-"+id+".trace")
}

// traceOf returns the trace lines about the lost texts' updates, from
// the instances' trace files (with TIDYGRAM_PROOF_TRACE).
func traceOf(t *testing.T, lost map[lostKey]bool) string {
	dir := os.Getenv("TIDYGRAM_PROOF_TRACE")
	if dir == "" || len(lost) == 0 {
		return "(set TIDYGRAM_PROOF_TRACE to a directory to trace the instances)"
	}
	files, _ := filepath.Glob(filepath.Join(dir, t.Name()+"-*.trace"))
	var lines []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines = append(lines, strings.Split(string(b), "\n")...)
	}
	ids := map[string]bool{}
	for _, l := range lines {
		for k := range lost {
			if strings.Contains(l, fmt.Sprintf("chat=%d text=%q", k.chat, k.text)) {
				if f := strings.Fields(l); len(f) > 3 {
					ids[f[3]] = true
				}
			}
		}
	}
	var out []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 3 && ids[f[3]] {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return "trace of the lost updates:\n" + strings.Join(out, "\n")
}

// sendFailures sums the handlers' failed sends of ins, with the first
// failure of each instance that had one.
func sendFailures(ins ...*instance) (int64, []string) {
	var n int64
	var first []string
	for _, in := range ins {
		n += in.sendErrs.Load()
		if f := in.firstSendErr.Load(); f != nil {
			first = append(first, in.id+": "+strings.TrimPrefix(*f, statusSendErr))
		}
	}
	return n, first
}
