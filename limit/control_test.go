package limit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// fast returns Control options for tests of retry: no flood limits, short
// backoffs.
func fast(opts ...Option) []Option {
	return append([]Option{
		WithLimiter(opterrtest.Must(NewLocal(WithGlobal(Rule{}), WithChat(Rule{}), WithGroup(Rule{})))),
		WithBackoff(time.Millisecond, 10*time.Millisecond),
	}, opts...)
}

func TestRetryTable(t *testing.T) {
	type call func(ctx context.Context, c *tg.Client, chat int64) error
	send := func(ctx context.Context, c *tg.Client, chat int64) error {
		_, err := c.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(chat), Text: "hi"})
		return err
	}
	getChat := func(ctx context.Context, c *tg.Client, chat int64) error {
		_, err := c.GetChat(ctx, &tg.GetChatParams{ChatID: tg.ID(chat)})
		return err
	}
	getMe := func(ctx context.Context, c *tg.Client, _ int64) error {
		_, err := c.GetMe(ctx)
		return err
	}
	uploadPhoto := func(ctx context.Context, c *tg.Client, chat int64) error {
		_, err := c.SendPhoto(ctx, &tg.SendPhotoParams{ChatID: tg.ID(chat), Photo: tg.FileReader("p.jpg", strings.NewReader("jpeg bytes"))})
		return err
	}
	tests := []struct {
		name      string
		method    string
		call      call
		faults    []tgtest.Fault
		opts      []Option
		wantCalls int64  // at the server
		wantErr   string // "", "api", "net" or "resp": the error's type
		wantCode  int    // of an *tg.APIError
		wantMsgs  int64  // stored in the chat
	}{
		{name: "ok", method: "sendMessage", call: send, wantCalls: 1, wantMsgs: 1},
		{name: "400 is returned", method: "sendMessage", call: func(ctx context.Context, c *tg.Client, _ int64) error {
			return send(ctx, c, 42) // no such chat
		}, wantCalls: 1, wantErr: "api", wantCode: 400},
		{name: "429 is waited out and retried", method: "sendMessage", call: send,
			faults: []tgtest.Fault{{Kind: tgtest.FaultTooMany, RetryAfter: 1}}, wantCalls: 2, wantMsgs: 1},
		{name: "500 on a send is not retried", method: "sendMessage", call: send,
			faults: []tgtest.Fault{{Kind: tgtest.FaultInternal}}, wantCalls: 1, wantErr: "api", wantCode: 500},
		{name: "500 on a send is retried when asked", method: "sendMessage", call: send, opts: []Option{WithRetryUnsure(true)},
			faults: []tgtest.Fault{{Kind: tgtest.FaultInternal}}, wantCalls: 2, wantMsgs: 1},
		{name: "cut after a send is not retried", method: "sendMessage", call: send,
			faults: []tgtest.Fault{{Kind: tgtest.FaultCut}}, wantCalls: 1, wantErr: "net", wantMsgs: 1},
		{name: "cut after a send retried when asked: delivered twice", method: "sendMessage", call: send, opts: []Option{WithRetryUnsure(true)},
			faults: []tgtest.Fault{{Kind: tgtest.FaultCut}}, wantCalls: 2, wantMsgs: 2},
		{name: "malformed answer to a send is not retried", method: "sendMessage", call: send,
			faults: []tgtest.Fault{{Kind: tgtest.FaultMalformed}}, wantCalls: 1, wantErr: "resp", wantMsgs: 1},
		{name: "500 on a get is retried", method: "getChat", call: getChat,
			faults: []tgtest.Fault{{Kind: tgtest.FaultInternal}, {Kind: tgtest.FaultInternal}}, wantCalls: 3},
		{name: "502 page on a get is retried", method: "getMe", call: getMe,
			faults: []tgtest.Fault{{Kind: tgtest.FaultBadGateway}}, wantCalls: 2},
		{name: "cut on a get is retried", method: "getMe", call: getMe,
			faults: []tgtest.Fault{{Kind: tgtest.FaultCut}}, wantCalls: 2},
		{name: "malformed answer to a get is retried", method: "getMe", call: getMe,
			faults: []tgtest.Fault{{Kind: tgtest.FaultMalformed}}, wantCalls: 2},
		{name: "retries are bounded", method: "getMe", call: getMe, opts: []Option{WithRetries(2)},
			faults:    []tgtest.Fault{{Kind: tgtest.FaultInternal}, {Kind: tgtest.FaultInternal}, {Kind: tgtest.FaultInternal}, {Kind: tgtest.FaultInternal}},
			wantCalls: 3, wantErr: "api", wantCode: 500},
		{name: "retry off", method: "getMe", call: getMe, opts: []Option{WithRetries(0)},
			faults: []tgtest.Fault{{Kind: tgtest.FaultInternal}}, wantCalls: 1, wantErr: "api", wantCode: 500},
		{name: "429 on an upload is not retried", method: "sendPhoto", call: uploadPhoto,
			faults: []tgtest.Fault{{Kind: tgtest.FaultTooMany, RetryAfter: 1}}, wantCalls: 1, wantErr: "api", wantCode: 429},
		{name: "429 longer than the maximum is returned", method: "sendMessage", call: send, opts: []Option{WithMaxRetryAfter(time.Second)},
			faults: []tgtest.Fault{{Kind: tgtest.FaultTooMany, RetryAfter: 5}}, wantCalls: 1, wantErr: "api", wantCode: 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			chat := rec.emu.NewUser("ann").ChatID()
			if len(tt.faults) > 0 {
				if err := rec.emu.ScriptFaults(tt.method, tt.faults...); err != nil {
					t.Fatal(err)
				}
			}
			ctl := opterrtest.Must(New(fast(tt.opts...)...))
			client := rec.client(t, ctl)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := tt.call(ctx, client, chat)
			var (
				apiErr  *tg.APIError
				netErr  *tg.NetworkError
				respErr *tg.ResponseError
			)
			kind := ""
			switch {
			case err == nil:
			case errors.As(err, &apiErr):
				kind = "api"
			case errors.As(err, &netErr):
				kind = "net"
			case errors.As(err, &respErr):
				kind = "resp"
			default:
				kind = "other"
			}
			if kind != tt.wantErr {
				t.Fatalf("err = %v (%T), want kind %q", err, err, tt.wantErr)
			}
			if tt.wantCode != 0 && apiErr.ErrorCode != tt.wantCode {
				t.Fatalf("err = %v, want code %d", err, tt.wantCode)
			}
			calls := int64(len(rec.times(func(a arrival) bool { return a.method == tt.method })))
			if calls != tt.wantCalls {
				t.Fatalf("server saw %d %s calls, want %d (err %v)", calls, tt.method, tt.wantCalls, err)
			}
			if got := rec.emu.Counters().MessagesPerChat[chat]; got != tt.wantMsgs {
				t.Fatalf("%d messages stored, want %d", got, tt.wantMsgs)
			}
			if st := ctl.Stats(); st.Retries != uint64(tt.wantCalls-1) {
				t.Fatalf("Stats.Retries = %d, want %d", st.Retries, tt.wantCalls-1)
			}
		})
	}
}

// TestRetryNotSent: a call that never reached the server (connection
// refused) is retried, sends included, and the error says NotSent.
func TestRetryNotSent(t *testing.T) {
	ctl := opterrtest.Must(New(fast(WithRetries(3))...))
	client := newClient(t, closedURL(t), tgtest.DefaultToken, ctl)
	_, err := client.SendMessage(context.Background(), &tg.SendMessageParams{ChatID: tg.ID(1), Text: "hi"})
	var netErr *tg.NetworkError
	if !errors.As(err, &netErr) || !netErr.NotSent() {
		t.Fatalf("err = %v, want a NotSent *tg.NetworkError", err)
	}
	if st := ctl.Stats(); st.Calls != 4 || st.Retries != 3 {
		t.Fatalf("Stats = %+v, want 4 calls and 3 retries", st)
	}
}

// Test429HonoursRetryAfter measures, at the server, the gap between a
// call answered 429 retry_after=2 and its retry; meanwhile the chat is
// paused in the limiter and another chat is not.
func Test429HonoursRetryAfter(t *testing.T) {
	rec := newRecorder(t)
	ann, bob := rec.emu.NewUser("ann").ChatID(), rec.emu.NewUser("bob").ChatID()
	if err := rec.emu.ScriptFaults("sendMessage", tgtest.Fault{Kind: tgtest.FaultTooMany, RetryAfter: 2}); err != nil {
		t.Fatal(err)
	}
	ctl := opterrtest.Must(New())
	client := rec.client(t, ctl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	annDone := make(chan error, 1)
	go func() {
		_, err := client.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(ann), Text: "hi"})
		annDone <- err
	}()
	// Wait for the 429, then send to bob while ann waits.
	if err := wait.Context(ctx, func() bool { return ctl.Stats().Floods != 0 }); err != nil {
		t.Fatalf("no 429 for ann: %v", err)
	}
	if _, err := client.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(bob), Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	bobSent := rec.times(func(a arrival) bool { return a.chat == bob })
	if err := <-annDone; err != nil {
		t.Fatal(err)
	}
	at := rec.times(func(a arrival) bool { return a.chat == ann })
	if len(at) != 2 || len(bobSent) != 1 {
		t.Fatalf("server saw %d calls for ann and %d for bob, want 2 and 1", len(at), len(bobSent))
	}
	gap := at[1].Sub(at[0])
	t.Logf("retry came %v after the 429 (retry_after 2s)", gap.Round(time.Millisecond))
	if gap < 2*time.Second || gap > 10*time.Second {
		t.Fatalf("retry %v after the 429, want at least retry_after (2s) and well under 10s", gap)
	}
	if !bobSent[0].Before(at[1]) {
		t.Fatal("bob's message waited for ann's pause")
	}
	if st := ctl.Stats(); st.Floods != 1 || st.Retries != 1 || st.GlobalPauses != 0 {
		t.Fatalf("Stats = %+v, want 1 flood, 1 retry, no global pause", st)
	}
}

// TestGlobalFlood: 429s for two chats within a second pause every chat.
func TestGlobalFlood(t *testing.T) {
	rec := newRecorder(t)
	ann, bob := rec.emu.NewUser("ann").ChatID(), rec.emu.NewUser("bob").ChatID()
	tooMany := tgtest.Fault{Kind: tgtest.FaultTooMany, RetryAfter: 1}
	if err := rec.emu.ScriptFaults("sendMessage", tooMany, tooMany); err != nil {
		t.Fatal(err)
	}
	lim := opterrtest.Must(NewLocal())
	ctl := opterrtest.Must(New(WithLimiter(lim)))
	client := rec.client(t, ctl)
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, chat := range []int64{ann, bob} {
		wg.Go(func() {
			if _, err := client.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(chat), Text: "hi"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := ctl.Stats(); st.Floods != 2 || st.GlobalPauses != 1 {
		t.Fatalf("Stats = %+v, want 2 floods and 1 global pause", st)
	}
}

// TestCancelEndsWait: a call waiting for a paused chat returns as soon as
// its context is cancelled, having sent nothing; other chats go on.
func TestCancelEndsWait(t *testing.T) {
	rec := newRecorder(t)
	ann, bob := rec.emu.NewUser("ann").ChatID(), rec.emu.NewUser("bob").ChatID()
	lim := opterrtest.Must(NewLocal())
	ctl := opterrtest.Must(New(WithLimiter(lim)))
	client := rec.client(t, ctl)
	lim.Pause(tg.ID(ann), time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	for range 2 { // one waits for a turn, one behind it in ann's queue
		go func() {
			_, err := client.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(ann), Text: "hi"})
			done <- err
		}()
	}
	for i := range 3 {
		if _, err := client.SendMessage(context.Background(), &tg.SendMessageParams{ChatID: tg.ID(bob), Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	deadline := time.After(5 * time.Second)
	for range 2 {
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled call: err = %v, want context.Canceled", err)
			}
		case <-deadline:
			t.Fatal("a cancelled call still waits after 5s")
		}
	}
	if n := len(rec.times(func(a arrival) bool { return a.chat == ann })); n != 0 {
		t.Fatalf("server saw %d calls for the paused chat", n)
	}
	if ctl.Queued() != 0 {
		t.Fatalf("%d lanes left", ctl.Queued())
	}
}

// TestOrderToOneChat: 30 calls to one chat, queued one after the other
// from 30 goroutines, arrive in that order.
func TestOrderToOneChat(t *testing.T) {
	rec := newRecorder(t)
	chat := rec.emu.NewUser("ann").ChatID()
	ctl := opterrtest.Must(New(fast()...))
	client := rec.client(t, ctl)
	// Hold the chat's lane so that every call queues behind it.
	release, err := ctl.lanes.acquire(context.Background(), tg.ID(chat))
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := client.SendMessage(context.Background(), &tg.SendMessageParams{ChatID: tg.ID(chat), Text: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		})
		wait.Until(t, 10*time.Second, fmt.Sprintf("call %d queued behind the held lane", i), func() bool { return ctl.lanes.queued(tg.ID(chat)) == i+1 })
	}
	release()
	wg.Wait()
	msgs := rec.emu.Messages(chat)
	if len(msgs) != n {
		t.Fatalf("%d messages stored, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if m.Text != fmt.Sprint(i) {
			t.Fatalf("message %d is %q, want %q: order lost", i, m.Text, fmt.Sprint(i))
		}
	}
}

func TestUncountedMethodsPassWithoutWaiting(t *testing.T) {
	rec := newRecorder(t)
	chat := rec.emu.NewUser("ann").ChatID()
	lim := opterrtest.Must(NewLocal())
	ctl := opterrtest.Must(New(WithLimiter(lim)))
	client := rec.client(t, ctl)
	lim.Pause(tg.ChatID{}, time.Hour) // every counted call would wait
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.GetChat(ctx, &tg.GetChatParams{ChatID: tg.ID(chat)}); err != nil {
		t.Fatal(err)
	}
	if err := client.SendChatAction(ctx, &tg.SendChatActionParams{ChatID: tg.ID(chat), Action: "typing"}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetUpdates(ctx, &tg.GetUpdatesParams{Timeout: 0}); err != nil {
		t.Fatal(err)
	}
	if st := ctl.Stats(); st.Waits != 0 {
		t.Fatalf("uncounted calls waited: %+v", st)
	}
}

func TestMigrate(t *testing.T) {
	tests := []struct {
		name    string
		migrate bool
	}{{"off: the error carries the new id", false}, {"on: re-sent to the supergroup", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			const oldGroup = -4242
			super := rec.emu.NewGroup("super").ID()
			rec.intercept = func(method string, chat int64, w http.ResponseWriter) bool {
				if chat != oldGroup {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":%d}}`, super)
				return true
			}
			var moved [2]tg.ChatID
			var opts []Option
			if tt.migrate {
				opts = append(opts, WithMigrate(func(from, to tg.ChatID) { moved = [2]tg.ChatID{from, to} }))
			}
			ctl := opterrtest.Must(New(fast(opts...)...))
			client := rec.client(t, ctl)
			params := &tg.SendMessageParams{ChatID: tg.ID(oldGroup), Text: "hello"}
			_, err := client.SendMessage(context.Background(), params)
			if params.ChatID != tg.ID(oldGroup) {
				t.Fatal("the caller's params were changed")
			}
			if !tt.migrate {
				var apiErr *tg.APIError
				if !errors.As(err, &apiErr) || apiErr.MigrateToChatID != super {
					t.Fatalf("err = %v, want an *tg.APIError with MigrateToChatID %d", err, super)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.emu.Counters().MessagesPerChat[super]; got != 1 {
				t.Fatalf("%d messages in the supergroup, want 1", got)
			}
			if moved != [2]tg.ChatID{tg.ID(oldGroup), tg.ID(super)} {
				t.Fatalf("onMigrate got %v", moved)
			}
			if st := ctl.Stats(); st.Migrations != 1 || st.Retries != 0 {
				t.Fatalf("Stats = %+v, want 1 migration, no retry", st)
			}
		})
	}
}
