package tgtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tidygram/tidygram/tgtest"
)

// botCall is what any Bot API client does: POST JSON, decode the result.
func botCall(srv *tgtest.Server, method string, params, result any) error {
	body, _ := json.Marshal(params)
	resp, err := http.Post(srv.URL()+"/bot"+srv.Token()+"/"+method, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		Description string          `json:"description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return err
	}
	if !env.OK {
		return fmt.Errorf("%s: %s", method, env.Description)
	}
	return json.Unmarshal(env.Result, result)
}

// A simulated user sends /start; the bot (here a few raw calls) polls for
// the update and replies; the test waits for the reply.
func ExampleNewServer() {
	srv := tgtest.NewServer() // in a test: tgtest.NewServer(tgtest.WithTB(t))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()

	alice := srv.NewUser("alice")
	alice.Command("start", "")

	var updates []tgtest.Update
	botCall(srv, "getUpdates", map[string]any{"timeout": 1}, &updates)
	for _, u := range updates {
		var sent tgtest.Message
		botCall(srv, "sendMessage", map[string]any{"chat_id": u.Message.Chat.ID, "text": "hello, " + u.Message.From.FirstName}, &sent)
		botCall(srv, "getUpdates", map[string]any{"offset": u.UpdateID + 1}, &updates) // confirm
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := alice.WaitReply(ctx)
	fmt.Println(reply.Text, err)
	fmt.Println("pending:", srv.Counters().UpdatesPending)
	// Output:
	// hello, alice <nil>
	// pending: 0
}

// Faults are scripted per method: the next getUpdates call is answered by
// a proxy's 502 page.
func ExampleServer_ScriptFaults() {
	srv := tgtest.NewServer()
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()

	srv.ScriptFaults("getUpdates", tgtest.Fault{Kind: tgtest.FaultBadGateway})
	var updates []tgtest.Update
	fmt.Println(botCall(srv, "getUpdates", nil, &updates) != nil)
	fmt.Println(botCall(srv, "getUpdates", nil, &updates))
	fmt.Println(srv.Counters().Faults[tgtest.FaultBadGateway])
	// Output:
	// true
	// <nil>
	// 1
}
