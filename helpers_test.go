package tidygram_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/tgtest"
)

// emulator starts a Bot API emulator closed at the end of the test.
func emulator(t testing.TB, opts ...tgtest.Option) *tgtest.Server {
	t.Helper()
	return tgtest.NewServer(append([]tgtest.Option{tgtest.WithTB(t)}, opts...)...)
}

// newBot returns a bot talking to srv, with test-friendly timeouts; its Run
// returns a *LeakError if any goroutine it started outlives it.
func newBot(t testing.TB, srv *tgtest.Server, opts ...tidygram.Option) *tidygram.Bot {
	t.Helper()
	base := []tidygram.Option{
		tidygram.WithBaseURL(srv.URL()),
		tidygram.WithPollTimeout(2 * time.Second),
		tidygram.WithBackoff(5*time.Millisecond, 50*time.Millisecond),
		tidygram.WithDrainTimeout(5 * time.Second),
		// The emulator enforces no flood limits unless a test asks.
		tidygram.WithoutFloodControl(),
		// Every test's Run fails if a goroutine it started outlives it.
		tidygram.WithStrictLeaks(),
	}
	b, err := tidygram.New(srv.Token(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// running is a bot's Run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func start(t testing.TB, b *tidygram.Bot) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx) }()
	t.Cleanup(func() { r.stop() })
	return r
}

// stop cancels Run and returns its error; it fails the test if Run does
// not return within a generous deadline.
func (r *running) stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(30 * time.Second):
			panic("Run did not return within 30 s of cancel")
		}
	})
	return r.err
}

// pushText enqueues a text message from user in chat chatID.
func pushText(t testing.TB, srv *tgtest.Server, chatID int64, text string) int64 {
	t.Helper()
	chatType := "private"
	if chatID < 0 {
		chatType = "group"
	}
	raw := fmt.Sprintf(`{"message":{"message_id":1,"date":%d,"chat":{"id":%d,"type":%q},"from":{"id":%d,"is_bot":false,"first_name":"u%d"},"text":%q}}`,
		time.Now().Unix(), chatID, chatType, abs(chatID), abs(chatID), text)
	id, err := srv.PushRaw([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
