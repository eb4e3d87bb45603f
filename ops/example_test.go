package ops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
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

// The ops page keeps 20 minutes of samples here, one every 2 s. A browser
// opens http://127.0.0.1:9464/debug/#token=… and signs in once; a script
// reads the page's data with the bearer token.
func ExampleWithSamples() {
	s := ops.New(ops.WithToken("a long random token"), ops.WithSampleInterval(2*time.Second), ops.WithSamples(600))
	req := httptest.NewRequest("GET", "/debug/state", nil)
	req.Header.Set("Authorization", "Bearer a long random token")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req) // mounted without Run: it samples as it is asked
	var state struct {
		Capacity int               `json:"capacity"`
		Samples  []json.RawMessage `json:"samples"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &state); err != nil {
		fmt.Println(err)
	}
	fmt.Println(rec.Code, state.Capacity, len(state.Samples))
	// Output: 200 600 1
}
