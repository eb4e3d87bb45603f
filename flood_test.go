package tidygram_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/ops"
	"github.com/tidygram/tidygram/tgtest"
)

// TestDefaultFloodControlAvoids429 runs a bot with its default flood
// control against the emulator enforcing Telegram's limits: bursts of
// replies to many chats must cause zero 429s and lose no reply.
func TestDefaultFloodControlAvoids429(t *testing.T) {
	srv := emulator(t, tgtest.WithFlood(tgtest.FloodLimits{}))
	m := ops.NewMetrics()
	b := newBot(t, srv, tidygram.WithFloodControl(nil), tidygram.WithObserver(m))
	b.OnText(func(c *tidygram.Context) error {
		return c.Send("re: " + c.Text())
	})
	r := start(t, b)
	const users, each = 40, 5 // 200 replies: above 30/s overall, 5 per chat (burst 3)
	sims := make([]*tgtest.SimUser, users)
	for i := range sims {
		sims[i] = srv.NewUser("f" + strconv.Itoa(i))
	}
	for j := range each {
		for _, u := range sims {
			if _, err := u.Send(strconv.Itoa(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	for i, u := range sims {
		for j := range each {
			m, err := u.WaitReply(ctx)
			if err != nil {
				t.Fatalf("user %d reply %d: %v", i, j, err)
			}
			if want := "re: " + strconv.Itoa(j); m.Text != want {
				t.Fatalf("user %d reply %d = %q, want %q", i, j, m.Text, want)
			}
		}
	}
	d := time.Since(t0)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if n := srv.Counters().FloodRejections; n != 0 {
		t.Fatalf("the emulator answered %d calls with 429: the limiter let them through", n)
	}
	st := b.FloodControl().Stats()
	if st.Waits == 0 {
		t.Fatal("the limiter never made a call wait: it cannot have kept the limits")
	}
	var waits uint64
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "tidygram_limiter_wait_seconds" {
			waits = f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if waits == 0 {
		t.Fatal("limiter waits not recorded in tidygram_limiter_wait_seconds")
	}
	t.Logf("%d replies under flood control in %v (%.1f msg/s), 0 × 429", users*each, d.Round(time.Millisecond), float64(users*each)/d.Seconds())
}
