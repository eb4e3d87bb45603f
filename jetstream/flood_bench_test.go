package jetstream_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/jetstream"
	"github.com/tidygram/tidygram/tgtest"
)

// BenchmarkFloodLimitedChatsSpool: the root's BenchmarkFloodLimitedChats
// worst case with the embedded JetStream spool: 20 users send 51 texts,
// each user's all before the next user's, and the bot echoes every one
// with the default flood control against the emulator's Telegram limits
// (1 message/s per chat after a burst of 3: the floor is 48 s). Without a
// spool Telegram's 100-update window makes this 7× the floor; with one
// the window no longer binds. Run it with -bench FloodLimitedChatsSpool
// -benchtime 1x (about a minute).
func BenchmarkFloodLimitedChatsSpool(b *testing.B) {
	const users, texts, burst = 20, 51, 3
	floor := time.Duration(texts-burst) * time.Second
	for range b.N {
		srv := tgtest.NewServer(tgtest.WithTB(b))
		srv.SetFlood(true, tgtest.FloodLimits{})
		s, err := jetstream.Open(context.Background(), jetstream.Embedded(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		bot, err := tidygram.New(srv.Token(), tidygram.WithBaseURL(srv.URL()), tidygram.WithSpool(s),
			tidygram.WithPollTimeout(2*time.Second), tidygram.WithoutLeakCheck())
		if err != nil {
			b.Fatal(err)
		}
		bot.OnText(func(c *tidygram.Context) error { return c.Reply(c.Text()) })
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- bot.Run(ctx) }()
		begin := time.Now()
		for n := range users * texts {
			u, i := n/texts, n%texts
			raw := `{"message":{"message_id":1,"date":1,"chat":{"id":` + strconv.Itoa(1000+u) + `,"type":"private"},"from":{"id":` +
				strconv.Itoa(1000+u) + `,"is_bot":false,"first_name":"u"},"text":"` + strconv.Itoa(i) + `"}}`
			if _, err := srv.PushRaw([]byte(raw)); err != nil {
				b.Fatal(err)
			}
		}
		total := int64(users * texts)
		if !wait.For(10*floor-time.Since(begin), func() bool { return sentMessages(srv) >= total }) {
			b.Fatalf("only %d of %d replies after %v", sentMessages(srv), total, time.Since(begin))
		}
		took := time.Since(begin)
		stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(took.Seconds(), "s-to-last-reply")
		b.ReportMetric(took.Seconds()/floor.Seconds(), "x-per-chat-floor")
		b.ReportMetric(float64(srv.Counters().FloodRejections), "429s")
	}
}

// sentMessages counts the sendMessage calls the emulator answered ok.
func sentMessages(srv *tgtest.Server) int64 {
	return srv.Counters().Requests["sendMessage"][200]
}
