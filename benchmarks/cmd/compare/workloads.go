package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidygram/tidygram/benchmarks/internal/fakeapi"
	"github.com/tidygram/tidygram/tgtest"
)

// tputResult is one run of the throughput workload (polling or webhook)
// against the fake Bot API server.
type tputResult struct {
	Lib, Mode       string
	Round           int     // 1-based
	UpdatesPerSec   float64 // measured updates / seconds from the end of the warm-up to the last reply
	CPUPerUpdate    float64 // µs of the bot's process
	AllocsPerUpdate float64
	BytesPerUpdate  float64
	PeakRSS         float64 // MiB
	Conns           float64 // TCP connections the bot opened to the server
	// The fake server's process over the same window: CPU µs per update,
	// getUpdates calls and updates sent again (not yet confirmed) per
	// update, requests it refused.
	ServerCPUPerUpdate   float64
	PollsPerUpdate       float64
	RedeliveredPerUpdate float64
	Refused              int64
	LastUnknown          string // a method the fake does not implement, if one was called
	// Sent is the replies the server counted (warm-up included);
	// ChatsShort and ChatsOver count chats with fewer or more replies than
	// updates.
	Sent                  int64
	ChatsShort, ChatsOver int
	WarmSec               float64 // seconds from start until the warm-up updates were answered
	// Webhook only, first round only.
	Abused       bool // the huge body and the wrong secret were tried
	BigStatus    int
	BigRSS       float64 // MiB of peak RSS growth
	BigErr       string
	WrongStatus  int
	WrongHandled bool
	Err          string
}

// serverShare is the server's CPU per update over the bot's.
func (r tputResult) serverShare() float64 {
	if r.CPUPerUpdate <= 0 {
		return 0
	}
	return r.ServerCPUPerUpdate / r.CPUPerUpdate
}

// maxServerShare is the most CPU the server may use, relative to the bot,
// for a throughput run to measure the bot (under a third).
const maxServerShare = 1.0 / 3

const mib = 1 << 20

// benchToken has the shape of a real token (telego checks it: 35
// characters after the colon; tgtest.DefaultToken has 34).
const benchToken = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"

// newEmulator starts an emulator with room for n pending updates.
func newEmulator(n int, opts ...tgtest.Option) (*tgtest.Server, error) {
	return tgtest.New(append([]tgtest.Option{tgtest.WithMaxPending(n + 10_000), tgtest.WithToken(benchToken)}, opts...)...)
}

// chatID is the private chat of simulated user i.
func chatID(i int) int64 { return 100_000 + int64(i) }

// push enqueues one text message from user i%chats and returns its update_id.
func push(srv *tgtest.Server, i, chats int, text string) (int64, error) {
	pre, suf := updateJSON(0, chatID(i%chats), text)
	return srv.PushRaw([]byte(pre + suf))
}

// preload enqueues n text messages spread round-robin over chats and
// returns the first update_id (they are consecutive).
func preload(srv *tgtest.Server, chats, n int) (first int64, err error) {
	for i := range n {
		id, err := push(srv, i, chats, "hello "+strconv.Itoa(i))
		if err != nil {
			return 0, err
		}
		if i == 0 {
			first = id
		}
	}
	return first, nil
}

func sentTotal(c tgtest.Counters) int64 {
	var n int64
	for _, v := range c.MessagesPerChat {
		n += v
	}
	return n
}

func (cfg *config) spec(lib, mode string, srv *tgtest.Server) childSpec {
	return childSpec{Lib: lib, Mode: mode, URL: srv.URL(), Token: srv.Token(), PollTimeout: cfg.pollTimeout}
}

// runThroughput answers cfg.updates updates with lib in mode (poll or
// webhook) against the fake Bot API server, each in its own process, and,
// for webhooks in the first round, then tries a huge body and a wrong
// secret.
func (cfg *config) runThroughput(ctx context.Context, lib, mode string, round int) (r tputResult) {
	r = tputResult{Lib: lib, Mode: mode, Round: round + 1}
	fail := func(err error) tputResult { r.Err = err.Error(); return r }
	// The warm-up updates are visible from the start; the measured ones
	// are released once they were answered.
	fspec := fakeSpec{Config: fakeapi.Config{
		Token: benchToken, Updates: cfg.warmup + cfg.updates, Chats: cfg.chats,
		FirstChatID: chatID(0), Released: cfg.warmup,
	}}
	if cfg.profileLib == "fakeapi" {
		fspec.CPUProfile = filepath.Join(cfg.profileDir, "fakeapi-"+strings.ReplaceAll(lib, "/", "-")+"-"+mode+".pprof")
	}
	fk, err := startFake(ctx, fspec)
	if err != nil {
		return fail(err)
	}
	defer fk.close()
	spec := childSpec{Lib: lib, Mode: mode, URL: fk.url, Token: benchToken, PollTimeout: cfg.pollTimeout}
	spec.Warmup, spec.Expect = int64(cfg.warmup), int64(cfg.updates)
	spec.Secret = "s3cr3t-" + strconv.Itoa(os.Getpid())
	if mode == "webhook" {
		spec.Probe = wrongSecretID
	}
	if cfg.profileLib == lib {
		spec.CPUProfile = filepath.Join(cfg.profileDir, strings.ReplaceAll(lib, "/", "-")+"-"+mode+".pprof")
	}
	c, err := startChild(spec)
	if err != nil {
		return fail(err)
	}
	defer c.close()
	var addr string
	if mode == "webhook" {
		ready, err := c.next(ctx, "ready", 30*time.Second)
		if err != nil {
			return fail(err)
		}
		addr = ready.Addr
	}
	if cfg.warmup > 0 {
		if _, err := c.next(ctx, "warm", cfg.tputTimeout()); err != nil {
			return fail(err)
		}
	}
	s0, err := fk.stats(ctx)
	if err != nil {
		return fail(err)
	}
	if err := fk.release(ctx, cfg.updates); err != nil {
		return fail(err)
	}
	done, err := c.next(ctx, "done", cfg.tputTimeout())
	if err != nil {
		if s, serr := fk.stats(ctx); serr == nil {
			r.Sent = s.Replies
			err = fmt.Errorf("%w; server: %d getUpdates, %d sendMessage, %d refused (last unknown method %q), %d pending",
				err, s.GetUpdates, s.SendMessage, s.BadRequests+s.Conflicts, s.LastUnknown, s.Pending)
		}
		return fail(err)
	}
	s1, err := fk.stats(ctx)
	if err != nil {
		return fail(err)
	}
	n := float64(cfg.updates)
	r.UpdatesPerSec = n / time.Duration(done.ElapsedNS).Seconds()
	r.CPUPerUpdate = float64(done.CPUNS) / 1e3 / n
	r.AllocsPerUpdate = float64(done.Allocs) / n
	r.BytesPerUpdate = float64(done.Bytes) / n
	r.PeakRSS = float64(done.HWM) / mib
	r.WarmSec = time.Duration(done.WarmNS).Seconds()
	r.Conns = float64(s1.ConnsAccepted)
	r.ServerCPUPerUpdate = float64(s1.CPU-s0.CPU) / 1e3 / n
	r.PollsPerUpdate = float64(s1.GetUpdates-s0.GetUpdates) / n
	r.RedeliveredPerUpdate = float64(s1.Redelivered-s0.Redelivered) / n
	r.Refused = s1.BadRequests + s1.Conflicts
	r.LastUnknown = s1.LastUnknown
	r.Sent, r.ChatsShort, r.ChatsOver = s1.Replies, s1.ChatsShort, s1.ChatsOver
	if mode == "webhook" && round == 0 {
		r.Abused = true
		cfg.webhookAbuse(ctx, c, addr, spec.Secret, &r)
	}
	return r
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (cfg *config) tputTimeout() time.Duration {
	return max(cfg.tputLimit, time.Duration(cfg.updates)*5*time.Millisecond)
}

// repeatReader yields n bytes of b repeated.
type repeatReader struct {
	b byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	for i := range p {
		p[i] = r.b
	}
	r.n -= int64(len(p))
	return len(p), nil
}

func postUpdate(url, secret string, body io.Reader, size int64) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

func updateJSON(id, chatID int64, text string) (prefix, suffix string) {
	prefix = fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":1700000000,"chat":{"id":%d,"type":"private","first_name":"x"},"from":{"id":%d,"is_bot":false,"first_name":"x"},"text":"%s`,
		id, id, chatID, chatID, text)
	return prefix, `"}}`
}

// The update_ids of the webhook's abuse posts, far above the fake's.
const (
	bigBodyID     = 1 << 40
	wrongSecretID = 1<<40 + 1
)

// webhookAbuse posts a cfg.bodyMiB body with the right secret, then a
// small update with a wrong secret, and records what the bot did.
func (cfg *config) webhookAbuse(ctx context.Context, c *child, addr, secret string, r *tputResult) {
	url := "http://" + addr + "/hook"
	before, err := c.ask(ctx, "stats", "stats", 10*time.Second)
	if err != nil {
		r.BigErr = err.Error()
		return
	}
	pre, suf := updateJSON(bigBodyID, chatID(0), "")
	size := int64(cfg.bodyMiB) * mib
	body := io.MultiReader(strings.NewReader(pre), &repeatReader{b: 'a', n: size - int64(len(pre)+len(suf))}, strings.NewReader(suf))
	r.BigStatus, err = postUpdate(url, secret, body, size)
	if err != nil {
		r.BigErr = err.Error()
	}
	sleep(ctx, 500*time.Millisecond)
	after, err := c.ask(ctx, "stats", "stats", 10*time.Second)
	if err != nil {
		r.BigErr = err.Error()
		return
	}
	r.BigRSS = float64(after.HWM-before.HWM) / mib

	pre, suf = updateJSON(wrongSecretID, chatID(1), "hi")
	r.WrongStatus, err = postUpdate(url, "wrong-secret", strings.NewReader(pre+suf), int64(len(pre+suf)))
	if err != nil {
		r.Err = "wrong secret: " + err.Error()
	}
	sleep(ctx, 500*time.Millisecond)
	last, err := c.ask(ctx, "stats", "stats", 10*time.Second)
	if err == nil {
		r.WrongHandled = last.Probe
	}
}

// stopResult is the stop workload of one library.
type stopResult struct {
	Lib       string
	StopMS    float64 // -1: did not return
	GoReturn  int     // goroutines left when stop returned
	GoAfter   int     // … and after settle
	Leftovers []string
	// Restart: updates handled by neither instance, or more than once.
	Total, Lost, Dup int
	Err              string
}

// runStop measures the stop of an idle bot with a poll pending, then
// stops a busy bot mid-stream, restarts it and counts losses and
// duplicates.
func (cfg *config) runStop(ctx context.Context, lib string) stopResult {
	r := stopResult{Lib: lib, Total: cfg.restartUpdates}
	err := cfg.stopIdle(ctx, lib, &r)
	if err == nil {
		err = cfg.restart(ctx, lib, &r)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// stopIdle answers one update, waits until the next long poll is pending
// and stops the bot.
func (cfg *config) stopIdle(ctx context.Context, lib string, r *stopResult) error {
	srv, err := newEmulator(1)
	if err != nil {
		return err
	}
	defer srv.Close()
	spec := cfg.spec(lib, "poll", srv)
	spec.Expect = 1
	c, err := startChild(spec)
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := push(srv, 0, 1, "warm up"); err != nil {
		return err
	}
	if _, err := c.next(ctx, "done", 30*time.Second); err != nil {
		return err
	}
	sleep(ctx, 500*time.Millisecond) // the next poll is pending by now
	st, err := c.ask(ctx, "stop", "stopped", 120*time.Second)
	if err != nil {
		return err
	}
	r.StopMS = float64(st.StopNS) / 1e6
	if st.StopNS < 0 {
		r.StopMS = -1
	}
	r.GoReturn, r.GoAfter, r.Leftovers = st.GoReturn-st.GoBase, st.GoAfter-st.GoBase, st.Leftovers
	return nil
}

// restart lets a first process stop its bot after a quarter of the
// updates and exit as soon as the stop returned, as a restarting service
// would; a second process takes over until nothing is pending. It counts
// the updates answered by neither and those answered twice.
func (cfg *config) restart(ctx context.Context, lib string, r *stopResult) error {
	srv, err := newEmulator(cfg.restartUpdates)
	if err != nil {
		return err
	}
	defer srv.Close()
	first, err := preload(srv, cfg.restartChats, cfg.restartUpdates)
	if err != nil {
		return err
	}
	spec := cfg.spec(lib, "poll", srv)
	spec.HandlerDelay, spec.StopAfter, spec.RecordIDs = cfg.restartDelay, int64(cfg.restartUpdates/4), true
	c1, err := startChild(spec)
	if err != nil {
		return err
	}
	defer c1.close()
	st1, err := c1.next(ctx, "stopped", 3*time.Minute)
	if err != nil {
		return err
	}
	c1.kill()
	spec.HandlerDelay, spec.StopAfter = 0, 0
	c2, err := startChild(spec)
	if err != nil {
		return err
	}
	defer c2.close()
	waitQuiet(ctx, srv, cfg.quiet, 30*time.Second)
	st2, err := c2.ask(ctx, "ids", "ids", 60*time.Second)
	if err != nil {
		return err
	}
	c2.kill()
	seen := map[int64]int{}
	for _, id := range append(st1.IDs, st2.IDs...) {
		seen[id]++
	}
	for id := first; id < first+int64(cfg.restartUpdates); id++ {
		switch n := seen[id]; {
		case n == 0:
			r.Lost++
		case n > 1:
			r.Dup += n - 1
		}
	}
	return nil
}

// waitQuiet waits until nothing is pending and no reply came for quiet,
// at most limit.
func waitQuiet(ctx context.Context, srv *tgtest.Server, quiet, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last, since := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		n := sentTotal(srv.Counters())
		if n != last {
			last, since = n, time.Now()
		}
		if srv.Pending() == 0 && time.Since(since) > quiet {
			return
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// faultResult is the faults workload of one library.
type faultResult struct {
	Lib                   string
	Cycles, Faults        int64
	Seconds               float64
	GoStart, GoMax, GoEnd int
	Conns, MaxOpen        int64
	Pushed, Handled, Lost int64
	Err                   string
}

// runFaults lets lib poll through cfg.faultCycles getUpdates calls (or
// cfg.faultTime) while 502s, hangs, 429s and cut connections are injected
// into getUpdates and updates trickle in, sampling its goroutines.
func (cfg *config) runFaults(ctx context.Context, lib string) (r faultResult) {
	r = faultResult{Lib: lib}
	fail := func(err error) faultResult { r.Err = err.Error(); return r }
	const chats = 50
	srv, err := newEmulator(10_000)
	if err != nil {
		return fail(err)
	}
	defer srv.Close()
	spec := cfg.spec(lib, "poll", srv)
	spec.RecordIDs = true
	c, err := startChild(spec)
	if err != nil {
		return fail(err)
	}
	defer c.close()
	// A first update handled before the faults: the baseline.
	push(srv, 0, chats, "warm up")
	var pushed int64 = 1
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		s, err := c.ask(ctx, "stats", "stats", 10*time.Second)
		if err != nil {
			return fail(err)
		}
		if s.Handled >= 1 {
			r.GoStart, r.GoMax = s.Goroutines, s.Goroutines
			break
		}
		sleep(ctx, 50*time.Millisecond)
	}
	cycles := func() int64 {
		var n int64
		for _, v := range srv.Counters().Requests["getUpdates"] {
			n += v
		}
		return n
	}
	c0 := cycles()
	for _, f := range []struct {
		p float64
		f tgtest.Fault
	}{
		{0.04, tgtest.Fault{Kind: tgtest.FaultBadGateway}},
		{0.04, tgtest.Fault{Kind: tgtest.FaultCut}},
		{0.02, tgtest.Fault{Kind: tgtest.FaultTooMany, RetryAfter: 1}},
		{0.02, tgtest.Fault{Kind: tgtest.FaultHang, Duration: time.Second}},
	} {
		if err := srv.SetFaultRate("getUpdates", f.p, f.f); err != nil {
			return fail(err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	tctx, cancel := context.WithCancel(ctx)
	wg.Go(func() { // a trickle of updates keeps the polls short
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
				if _, err := push(srv, i, chats, "m"); err == nil {
					pushed++
				}
			}
		}
	})
	for cycles()-c0 < int64(cfg.faultCycles) && time.Since(start) < cfg.faultTime {
		sleep(ctx, 250*time.Millisecond)
		if s, err := c.ask(ctx, "stats", "stats", 10*time.Second); err == nil {
			r.GoMax = max(r.GoMax, s.Goroutines)
		}
	}
	cancel()
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Cycles = cycles() - c0
	srv.ClearFaults()
	for _, n := range srv.Counters().Faults {
		r.Faults += n
	}
	r.Pushed = pushed
	waitQuiet(ctx, srv, cfg.quiet, 20*time.Second)
	s, err := c.ask(ctx, "ids", "ids", 10*time.Second)
	if err != nil {
		return fail(err)
	}
	r.GoEnd = s.Goroutines
	r.GoMax = max(r.GoMax, s.Goroutines)
	uniq := map[int64]bool{}
	for _, id := range s.IDs {
		uniq[id] = true
	}
	r.Handled = int64(len(uniq))
	r.Lost = r.Pushed - r.Handled
	cs := srv.Counters()
	r.Conns, r.MaxOpen = cs.ConnsAccepted, cs.MaxOpenConns
	return r
}

// fileResult is the files workload of one library.
type fileResult struct {
	Lib               string
	UpRSS, DownRSS    float64 // MiB, peak
	UpSec, DownSec    float64
	UpErr, DownErr    string
	DownloadedExactly bool
}

// makeFile writes a file of size bytes (a repeating pattern) in dir.
func makeFile(dir string, size int64) (string, error) {
	path := filepath.Join(dir, "payload.bin")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	chunk := bytes.Repeat([]byte("tidygram-benchmark-payload-0123456789\n"), 1<<15)
	for left := size; left > 0; {
		n := min(left, int64(len(chunk)))
		if _, err := f.Write(chunk[:n]); err != nil {
			f.Close()
			return "", err
		}
		left -= n
	}
	return path, f.Close()
}

// runFiles uploads path with lib, then downloads it, each in a fresh child.
func (cfg *config) runFiles(ctx context.Context, lib, path string, size int64) (r fileResult) {
	r = fileResult{Lib: lib}
	srv, err := newEmulator(10, tgtest.WithUploadLimit(size+mib), tgtest.WithDownloadLimit(size+mib), tgtest.WithTempDir(filepath.Dir(path)))
	if err != nil {
		r.UpErr = err.Error()
		return r
	}
	defer srv.Close()
	spec := cfg.spec(lib, "upload", srv)
	spec.Path, spec.ChatID = path, chatID(0)
	if _, err := push(srv, 0, 1, "make the chat known"); err != nil {
		r.UpErr = err.Error()
		return r
	}
	up, err := runFileChild(ctx, spec)
	r.UpRSS, r.UpSec = float64(up.HWM)/mib, time.Duration(up.ElapsedNS).Seconds()
	if err != nil {
		r.UpErr = err.Error()
		return r
	}
	spec = cfg.spec(lib, "download", srv)
	spec.FileID = up.FileID
	down, err := runFileChild(ctx, spec)
	r.DownRSS, r.DownSec = float64(down.HWM)/mib, time.Duration(down.ElapsedNS).Seconds()
	if err != nil {
		r.DownErr = err.Error()
	}
	r.DownloadedExactly = down.N == size
	return r
}

func runFileChild(ctx context.Context, spec childSpec) (event, error) {
	c, err := startChild(spec)
	if err != nil {
		return event{}, err
	}
	defer c.close()
	return c.next(ctx, "done", 10*time.Minute)
}
