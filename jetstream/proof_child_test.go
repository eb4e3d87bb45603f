//go:build unix

package jetstream_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/jetstream"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// proofChildEnv carries a child's configuration (JSON of childConfig) to
// TestProofChild in a re-executed test binary.
const proofChildEnv = "TIDYGRAM_PROOF_CHILD"

// childConfig is what one bot instance of a proof test runs with.
type childConfig struct {
	API, Token string // the emulator
	// NATS is the cluster's URLs (comma-separated); empty with Dir.
	NATS     string
	Replicas int
	// Dir is the embedded spool's directory (instead of NATS).
	Dir       string
	Instance  string
	MaxInHand int
	LeaseTTL  time.Duration // 0: the spool's default
	// Rate is the bot-wide limit, messages/s, of the shared limiter
	// (with NATS) or of the local one; the chat and group rules are
	// Telegram's (limit's defaults). NoFlood turns flood control off.
	Rate    int
	NoFlood bool
	// LimiterMargin is the shared limiter's margin (0: its default).
	LimiterMargin time.Duration
	Workers       int // 0: tidygram's default
	// Trace, when set, is a file the child appends what its spool did to
	// (put, deliver, refuse, done, send), for the report of a failed run.
	Trace string
}

// Status lines a child writes on file descriptor 3 (its protocol with
// the test; stdout and stderr carry only errors).
const (
	statusReady   = "ready"    // Run started: getMe answered
	statusLead    = "lead"     // holds the poll lease
	statusFollow  = "follow"   // does not
	statusStopped = "stopped"  // Run returned, spool closed; waits for stdin to close
	statusFailed  = "failed: " // followed by the error
	statusSendErr = "senderr " // a handler's send failed: update_id and error
)

// TestProofChild is the bot instance of the proof tests: it runs only in
// a process they start (see startInstance). It echoes every text to its
// chat ("<text> r=<redelivered>"), stops on SIGTERM, closes its spool,
// reports "stopped" on fd 3 and returns once stdin is closed; the
// package's TestMain then fails the process if any goroutine is left.
func TestProofChild(t *testing.T) {
	raw := os.Getenv(proofChildEnv)
	if raw == "" {
		t.Skip("a bot instance of TestProofCluster and TestProofEmbeddedKills; runs only in their child processes")
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("%s: %v", proofChildEnv, err)
	}
	status := os.NewFile(3, "status")
	defer status.Close()
	var mu sync.Mutex
	report := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(status, s)
	}
	if err := runChild(t.Context(), cfg, report); err != nil {
		report(statusFailed + strings.ReplaceAll(err.Error(), "\n", " "))
		t.Fatal(err)
	}
	report(statusStopped)
	// The test checks the emulator's connections while this process is
	// still alive, then closes stdin.
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
}

// runChild runs one instance until SIGTERM, then stops it and closes
// everything it opened. report tells the test what it does.
func runChild(ctx context.Context, cfg childConfig, report func(string)) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	opts := []jetstream.Option{jetstream.Instance(cfg.Instance), jetstream.Logger(log)}
	if cfg.MaxInHand > 0 {
		opts = append(opts, jetstream.MaxInHand(cfg.MaxInHand))
	}
	if cfg.LeaseTTL > 0 {
		opts = append(opts, jetstream.LeaseTTL(cfg.LeaseTTL))
	}
	if cfg.Dir != "" {
		opts = append(opts, jetstream.Embedded(cfg.Dir))
	} else {
		opts = append(opts, jetstream.URL(cfg.NATS), jetstream.Replicas(cfg.Replicas))
	}
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	sp, err := jetstream.Open(openCtx, opts...)
	if err != nil {
		return fmt.Errorf("open the spool: %w", err)
	}
	defer sp.Close()

	flood := tidygram.WithoutFloodControl()
	if !cfg.NoFlood {
		global := limit.Per(cfg.Rate, time.Second, 1)
		local, err := limit.NewLocal(limit.WithGlobal(global))
		if err != nil {
			return fmt.Errorf("local limiter: %w", err)
		}
		var lim limit.Limiter = local
		if cfg.Dir == "" {
			// One bot-wide budget for all instances, and chat budgets
			// that follow a chat to the instance that takes it over.
			lopts := []jetstream.LimiterOption{
				jetstream.LimiterReplicas(cfg.Replicas),
				jetstream.LimiterRules(global,
					limit.Rule{Every: limit.DefaultChatEvery, Burst: limit.DefaultChatBurst},
					limit.Rule{Every: limit.DefaultGroupEvery, Burst: limit.DefaultGroupBurst}),
			}
			if cfg.LimiterMargin > 0 {
				lopts = append(lopts, jetstream.LimiterMargin(cfg.LimiterMargin))
			}
			if lim, err = jetstream.NewLimiter(openCtx, sp.JetStream(), lopts...); err != nil {
				return fmt.Errorf("shared limiter: %w", err)
			}
		}
		ctl, err := limit.New(limit.WithLimiter(lim))
		if err != nil {
			return fmt.Errorf("flood control: %w", err)
		}
		flood = tidygram.WithFloodControl(ctl)
	}
	var tr *tracer
	var bs spool.Spool = sp
	if cfg.Trace != "" {
		f, err := os.OpenFile(cfg.Trace, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		tr = &tracer{w: f, id: cfg.Instance}
		bs = tracedSpool{sp, tr}
	}
	botOpts := []tidygram.Option{
		tidygram.WithBaseURL(cfg.API),
		tidygram.WithSpool(bs),
		flood,
		tidygram.WithStrictLeaks(),
		tidygram.WithLogger(log),
		tidygram.WithPollTimeout(5 * time.Second),
		tidygram.WithBackoff(50*time.Millisecond, time.Second),
	}
	if cfg.Workers > 0 {
		// A handler holds its worker while it waits for its chat's
		// flood turn: one worker per chat that may wait at once.
		botOpts = append(botOpts, tidygram.WithWorkers(cfg.Workers))
	}
	bot, err := tidygram.New(cfg.Token, botOpts...)
	if err != nil {
		return err
	}
	bot.OnText(func(c *tidygram.Context) error {
		err := c.Send(fmt.Sprintf("%s r=%t", c.Text(), c.Redelivered))
		tr.log("send", c.Update.UpdateID, err)
		if err != nil {
			report(fmt.Sprintf("%s%d %s", statusSendErr, c.Update.UpdateID, strings.ReplaceAll(err.Error(), "\n", " ")))
		}
		return err
	})

	// The watcher tells the test when the bot is up and whether it polls.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		ready, leading := false, false
		for {
			if !ready && bot.Me() != nil {
				ready = true
				report(statusReady)
			}
			if l := sp.Stats().Leading; ready && l != leading {
				leading = l
				report(map[bool]string{true: statusLead, false: statusFollow}[l])
			}
			select {
			case <-watchCtx.Done():
				return
			case <-tick.C:
			}
		}
	})
	err = bot.Run(ctx)
	stopWatch()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("bot.Run: %w", err)
	}
	if err := sp.Close(); err != nil {
		return fmt.Errorf("close the spool: %w", err)
	}
	return nil
}

// tracer appends one line per event to a trace file: instance, event,
// update_id, detail. A nil tracer traces nothing.
type tracer struct {
	mu sync.Mutex
	w  io.Writer
	id string
}

func (t *tracer) log(event string, id int64, detail any) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "%s %s %s %d %v\n", time.Now().Format("15:04:05.000"), t.id, event, id, detail)
}

// tracedSpool traces what passes through a spool: the ids put (with
// chat and text), delivered, refused by the bot, and done.
type tracedSpool struct {
	*jetstream.Spool
	tr *tracer
}

func (s tracedSpool) Put(ctx context.Context, u *tg.Update) error {
	err := s.Spool.Put(ctx, u)
	detail := fmt.Sprint(err)
	if m := u.Message; m != nil {
		detail = fmt.Sprintf("chat=%d text=%q err=%v", m.Chat.ID, m.Text, err)
	}
	s.tr.log("put", u.UpdateID, detail)
	return err
}

func (s tracedSpool) Consume(ctx context.Context, deliver func(context.Context, *spool.Delivery) error) error {
	return s.Spool.Consume(ctx, func(ctx context.Context, d *spool.Delivery) error {
		id, done := d.Update.UpdateID, d.Done
		d.Done = func(handled bool) {
			s.tr.log("done", id, handled)
			done(handled)
		}
		s.tr.log("deliver", id, d.Redelivered)
		err := deliver(ctx, d)
		if err != nil {
			s.tr.log("refused", id, err)
		}
		return err
	})
}
