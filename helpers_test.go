package tidygram_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/tgtest"
)

// emulator starts a Bot API emulator closed at the end of the test.
func emulator(t testing.TB, opts ...tgtest.Option) *tgtest.Server {
	t.Helper()
	return tgtest.NewServer(append([]tgtest.Option{tgtest.WithTB(t)}, opts...)...)
}

// newBot returns a bot talking to srv with test-friendly timeouts (see
// bottest.New: its Run returns a *LeakError if any goroutine it started
// outlives it).
func newBot(t testing.TB, srv *tgtest.Server, opts ...tidygram.Option) *tidygram.Bot {
	t.Helper()
	base := []tidygram.Option{tidygram.WithDrainTimeout(5 * time.Second)}
	if !tidygram.FloodControlGiven(opts...) { // the emulator enforces no flood limits unless a test asks
		base = append(base, tidygram.WithoutFloodControl())
	}
	if !tidygram.WebhookGiven(opts...) { // with WithWebhook New refuses polling-only options
		base = append(base, tidygram.WithPollTimeout(2*time.Second), tidygram.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	}
	return bottest.New(t, srv, append(base, opts...)...)
}

// running is a bot's Run in the background (bottest.Run): stopped at the
// end of the test, which fails if Run returned an error the test did not
// take with stop.
type running struct{ *bottest.Running }

func start(t testing.TB, b *tidygram.Bot) *running { return &running{bottest.Run(t, b)} }

// stop cancels Run and returns its error (bottest.Running.Stop).
func (r *running) stop() error { return r.Stop() }

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
var eventually = bottest.Eventually
