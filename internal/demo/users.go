package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram/tgtest"
)

// Scenario is what simulated users do and how they check the replies.
type Scenario string

// Scenarios.
const (
	// ScenarioDemo uses every feature of the demo bot (commands, echo,
	// votes with callbacks, documents, the session counter) and checks
	// every reply exactly.
	ScenarioDemo Scenario = "demo"
	// ScenarioEcho sends text and expects one reply containing it: any
	// echo bot passes.
	ScenarioEcho Scenario = "echo"
	// ScenarioAny sends text and expects one reply, whatever it says.
	ScenarioAny Scenario = "any"
)

// ParseScenario checks a scenario name.
func ParseScenario(s string) (Scenario, error) {
	switch sc := Scenario(s); sc {
	case ScenarioDemo, ScenarioEcho, ScenarioAny:
		return sc, nil
	}
	return "", fmt.Errorf("unknown scenario %q (want demo, echo or any)", s)
}

// Defaults of LoadConfig.
const (
	DefaultUsers        = 50
	DefaultThink        = time.Second
	DefaultReplyTimeout = 30 * time.Second
	DefaultMaxFile      = 64 << 10
)

// LoadConfig configures simulated users. Zero fields take the defaults.
type LoadConfig struct {
	Users        int           // simulated users (DefaultUsers)
	Scenario     Scenario      // what they do (ScenarioDemo)
	Think        time.Duration // mean pause between a user's actions (DefaultThink); pauses are uniform in [0, 2×Think)
	ReplyTimeout time.Duration // how long a user waits for a reply (DefaultReplyTimeout)
	MaxFile      int           // largest document a user sends, bytes (DefaultMaxFile; at most MaxFileSize)
	Seed         uint64        // seeds every user's choices
	// Redeliveries makes users expect an answer to come twice (a spool
	// delivers again what an instance held when it died): an answer
	// that quotes an earlier message of theirs, or repeats the last
	// answer to the same message, is counted (LoadStats.Repeated) and
	// skipped.
	Redeliveries bool
}

func (c LoadConfig) withDefaults() LoadConfig {
	if c.Users <= 0 {
		c.Users = DefaultUsers
	}
	if c.Scenario == "" {
		c.Scenario = ScenarioDemo
	}
	if c.Think <= 0 {
		c.Think = DefaultThink
	}
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = DefaultReplyTimeout
	}
	if c.MaxFile <= 0 {
		c.MaxFile = DefaultMaxFile
	}
	c.MaxFile = max(min(c.MaxFile, MaxFileSize), 1024)
	return c
}

// Load is a set of simulated users of one emulator. Create it with
// NewLoad and start it with Run; Stats may be called at any time.
type Load struct {
	srv *tgtest.Server
	cfg LoadConfig

	Latency Histogram // from an action to its (first) reply, as a user sees it

	actions, updates, checked, correct, wrong, missing, gaveUp, failed, repeated atomic.Int64

	mu    sync.Mutex
	notes []string
}

// NewLoad returns users of srv configured by cfg. It starts nothing.
func NewLoad(srv *tgtest.Server, cfg LoadConfig) *Load {
	return &Load{srv: srv, cfg: cfg.withDefaults()}
}

// Config returns the configuration with defaults applied.
func (l *Load) Config() LoadConfig { return l.cfg }

// Run makes the users act until stop is closed or ctx ends. After stop,
// each user finishes the action in progress, waiting for its replies at
// most ReplyTimeout; when ctx ends, waits are abandoned at once (and the
// replies counted missing). Run blocks until every user's goroutine ended.
func (l *Load) Run(ctx context.Context, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for i := range l.cfg.Users {
		name := fmt.Sprintf("User%d", i+1)
		u := l.srv.NewUser(name)
		rng := rand.New(rand.NewPCG(l.cfg.Seed, uint64(i)))
		wg.Go(func() { l.user(ctx, stop, &simUser{SimUser: u, name: name, rng: rng}) })
	}
	wg.Wait()
}

// simUser is one user's state: what it expects the bot to remember.
type simUser struct {
	*tgtest.SimUser
	name  string
	rng   *rand.Rand
	n     int // actions so far
	count int // /count calls answered so far

	action int64          // the message id of the current action's message
	last   tgtest.Message // the last answer taken
}

func (l *Load) user(ctx context.Context, stop <-chan struct{}, u *simUser) {
	pause := func(mean time.Duration) bool {
		d := time.Duration(u.rng.Int64N(int64(2*mean) + 1))
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-stop:
		case <-ctx.Done():
		}
		return false
	}
	if !pause(l.cfg.Think / 2) { // spread the users' first actions
		return
	}
	for {
		u.n++
		l.actions.Add(1)
		if !l.act(ctx, u) {
			l.gaveUp.Add(1)
			return
		}
		if !pause(l.cfg.Think) {
			return
		}
	}
}

// act performs one action and checks its replies. It returns false when
// the user cannot go on (a reply is missing, so later replies could not
// be told apart, or the emulator refused the update).
func (l *Load) act(ctx context.Context, u *simUser) bool {
	if l.cfg.Scenario != ScenarioDemo {
		text := fmt.Sprintf("hello %d from %s %08x", u.n, u.name, u.rng.Uint32())
		return l.sendText(ctx, u, text, func(got string) (bool, string) {
			if l.cfg.Scenario == ScenarioAny || strings.Contains(got, text) {
				return true, ""
			}
			return false, fmt.Sprintf("want a reply containing %q", text)
		})
	}
	switch r := u.rng.IntN(100); {
	case r < 8:
		return l.command(ctx, u, "start", StartText(u.name))
	case r < 12:
		return l.command(ctx, u, "help", HelpText)
	case r < 30:
		u.count++
		return l.command(ctx, u, "count", CountText(u.count))
	case r < 45:
		return l.vote(ctx, u)
	case r < 60:
		return l.file(ctx, u)
	default:
		text := fmt.Sprintf("message %d from %s: %08x", u.n, u.name, u.rng.Uint32())
		want := EchoText(text)
		return l.sendText(ctx, u, text, func(got string) (bool, string) { return got == want, fmt.Sprintf("want %q", want) })
	}
}

func (l *Load) command(ctx context.Context, u *simUser, cmd, want string) bool {
	start := time.Now()
	if !l.sent(u.act(u.Command(cmd, ""))) {
		return false
	}
	m, ok := l.reply(ctx, u, start, "/"+cmd)
	return ok && l.check(u, "/"+cmd, m.Text == want, fmt.Sprintf("got %q, want %q", m.Text, want))
}

func (l *Load) sendText(ctx context.Context, u *simUser, text string, ok func(got string) (bool, string)) bool {
	start := time.Now()
	if !l.sent(u.act(u.Send(text))) {
		return false
	}
	m, got := l.reply(ctx, u, start, "text")
	if !got {
		return false
	}
	good, want := ok(m.Text)
	return l.check(u, "text", good, fmt.Sprintf("got %q, %s", m.Text, want))
}

// vote: /vote, then "up" and "down"; each press must be answered and must
// leave the message with the new tally.
func (l *Load) vote(ctx context.Context, u *simUser) bool {
	start := time.Now()
	if !l.sent(u.act(u.Command("vote", ""))) {
		return false
	}
	m, ok := l.reply(ctx, u, start, "/vote")
	if !ok || !l.check(u, "/vote", m.Text == VoteText(0, 0) && len(m.Buttons()) == 2,
		fmt.Sprintf("got %q with %d buttons, want %q with 2", m.Text, len(m.Buttons()), VoteText(0, 0))) {
		return ok
	}
	up, down := 0, 0
	for _, data := range []string{VoteUp, VoteDown} {
		choice := strings.TrimPrefix(data, "vote:")
		if data == VoteUp {
			up++
		} else {
			down++
		}
		start := time.Now()
		id, err := u.Press(m, data)
		if !l.sent(tgtest.Message{}, err) {
			return false
		}
		wctx, cancel := context.WithTimeout(ctx, l.cfg.ReplyTimeout)
		ans, err := u.WaitCallbackAnswer(wctx, id)
		cancel()
		if err != nil {
			l.missing.Add(1)
			l.note("%s: no answer to pressing %s: %v", u.name, data, err)
			return false
		}
		l.Latency.Observe(time.Since(start))
		if !l.check(u, "press", ans.Text == VotedText(choice), fmt.Sprintf("answer %q, want %q", ans.Text, VotedText(choice))) {
			return true
		}
		want := VoteText(up, down)
		var cur string
		for _, h := range l.srv.Messages(u.ChatID()) {
			if h.MessageID == m.MessageID {
				cur = h.Text
			}
		}
		if !l.check(u, "vote tally", cur == want, fmt.Sprintf("message reads %q, want %q", cur, want)) {
			return true
		}
		// The keyboard must survive the edit for the next press.
		for _, h := range l.srv.Messages(u.ChatID()) {
			if h.MessageID == m.MessageID {
				m = h
			}
		}
	}
	return true
}

// file sends a random document and expects its size and hash back, then
// the generated report file.
func (l *Load) file(ctx context.Context, u *simUser) bool {
	size := 1024 + u.rng.IntN(l.cfg.MaxFile-1024+1)
	data := make([]byte, size)
	for i := 0; i < size; i += 8 {
		v := u.rng.Uint64()
		for j := 0; j < 8 && i+j < size; j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	name := fmt.Sprintf("file-%d.bin", u.n)
	start := time.Now()
	if !l.sent(u.act(u.SendDocument(name, data))) {
		return false
	}
	m, ok := l.reply(ctx, u, start, "document")
	if !ok {
		return false
	}
	want := FileText(name, int64(size), hexSum)
	l.check(u, "document", m.Text == want, fmt.Sprintf("got %q, want %q", m.Text, want))
	m, ok = l.reply(ctx, u, time.Time{}, "report file")
	if !ok {
		return false
	}
	if !l.check(u, "report file", m.Document != nil && m.Document.FileName == ReportName,
		fmt.Sprintf("got a message without %s", ReportName)) {
		return true
	}
	// tgtest publishes a bot's message a moment before it commits the
	// uploaded file (reported): retry for a short while.
	content, err := l.srv.FileContent(m.Document.FileID)
	for i := 0; err != nil && i < 200 && ctx.Err() == nil; i++ {
		time.Sleep(10 * time.Millisecond)
		content, err = l.srv.FileContent(m.Document.FileID)
	}
	wantContent := ReportFile(name, int64(size), hexSum)
	l.check(u, "report content", err == nil && bytes.Equal(content, wantContent),
		fmt.Sprintf("got %q (%v), want %q", content, err, wantContent))
	return true
}

// sent counts an update the user enqueued, or notes why it could not.
func (l *Load) sent(_ tgtest.Message, err error) bool {
	if err != nil {
		l.failed.Add(1)
		l.note("emulator refused an update: %v", err)
		return false
	}
	l.updates.Add(1)
	return true
}

// reply waits for the user's next message from the bot; start, when not
// zero, is when the action began (for the latency histogram).
func (l *Load) reply(ctx context.Context, u *simUser, start time.Time, what string) (tgtest.Message, bool) {
	wctx, cancel := context.WithTimeout(ctx, l.cfg.ReplyTimeout)
	defer cancel()
	for {
		m, err := u.WaitReply(wctx)
		if err != nil {
			l.missing.Add(1)
			l.note("%s: no reply to %s within %v: %v", u.name, what, l.cfg.ReplyTimeout, err)
			return m, false
		}
		if l.cfg.Redeliveries && u.repeated(m) {
			l.repeated.Add(1)
			continue
		}
		u.last = m
		if !start.IsZero() {
			l.Latency.Observe(time.Since(start))
		}
		return m, true
	}
}

// act notes m as the message of the user's current action.
func (u *simUser) act(m tgtest.Message, err error) (tgtest.Message, error) {
	if err == nil {
		u.action = m.MessageID
	}
	return m, err
}

// repeated reports whether m answers again what was answered before: it
// quotes an earlier message than the current action's, or it is the
// last answer taken once more.
func (u *simUser) repeated(m tgtest.Message) bool {
	q := m.ReplyToMessage
	if q == nil {
		return false
	}
	if q.MessageID < u.action {
		return true
	}
	l := u.last
	return l.ReplyToMessage != nil && l.ReplyToMessage.MessageID == q.MessageID && l.Text == m.Text &&
		(l.Document == nil) == (m.Document == nil)
}

func (l *Load) check(u *simUser, what string, ok bool, detail string) bool {
	l.checked.Add(1)
	if ok {
		l.correct.Add(1)
		return true
	}
	l.wrong.Add(1)
	l.note("%s: wrong reply to %s: %s", u.name, what, detail)
	return false
}

func (l *Load) note(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.notes) < maxNotes {
		l.notes = append(l.notes, fmt.Sprintf(format, args...))
	}
}

// LoadStats is a snapshot of what the users did and saw.
type LoadStats struct {
	Users    int
	Actions  int64    // actions started
	Updates  int64    // updates the users sent (each is one update to the bot)
	Refused  int64    // updates the emulator refused (queue full, closed)
	Checked  int64    // replies (and callback answers, tallies, files) checked
	Correct  int64    // of which as expected
	Wrong    int64    // of which not as expected
	Missing  int64    // replies that did not come within ReplyTimeout
	GaveUp   int64    // users who stopped after a missing reply
	Repeated int64    // answers that came again and were skipped (LoadConfig.Redeliveries)
	Notes    []string // the first problems, for the report
	Latency  HistSnapshot
	Scenario Scenario
}

// Stats returns what the users did so far.
func (l *Load) Stats() LoadStats {
	l.mu.Lock()
	notes := append([]string(nil), l.notes...)
	l.mu.Unlock()
	return LoadStats{
		Users:    l.cfg.Users,
		Actions:  l.actions.Load(),
		Updates:  l.updates.Load(),
		Refused:  l.failed.Load(),
		Checked:  l.checked.Load(),
		Correct:  l.correct.Load(),
		Wrong:    l.wrong.Load(),
		Missing:  l.missing.Load(),
		GaveUp:   l.gaveUp.Load(),
		Repeated: l.repeated.Load(),
		Notes:    notes,
		Latency:  l.Latency.Snapshot(),
		Scenario: l.cfg.Scenario,
	}
}
