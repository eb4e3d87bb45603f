package ops_test

import (
	"context"
	"time"

	"github.com/tidygram/tidygram/ops"
	"github.com/tidygram/tidygram/tg"
)

// The runtime creates the metrics, feeds them, and runs the server beside
// the bot until the bot's context ends.
func ExampleServer() {
	m := ops.NewMetrics()
	m.QueueDepth(func() int { return 0 }) // e.g. the dispatch pool's length
	s := ops.New(
		ops.WithAddr("127.0.0.1:0"),
		ops.WithToken("a long random token"), // enables /debug/pprof, /debug/goroutines and the ops page /debug/
		ops.WithMetrics(m),
		ops.WithReady(func(ctx context.Context) error { return nil }), // e.g. getMe answered
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	u := &tg.Update{UpdateID: 1, Message: &tg.Message{Text: "/start"}}
	m.UpdateReceived(u, false) // a bot reports to m as its observer (ops.ForBot)
	m.UpdateHandled(u, "/start", 3*time.Millisecond, nil)
	_ = s.Run(ctx) // returns after shutdown
}
