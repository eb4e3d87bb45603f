package tgtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
)

// rawCall posts params and returns the status, headers and body, or the
// transport error, without judging them.
func rawCall(ctx context.Context, c *http.Client, s *Server, method string, params any) (int, http.Header, []byte, error) {
	req, err := newJSONRequest(ctx, s, method, params)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func TestFaultKinds(t *testing.T) {
	s := newTestServer(t)
	u := s.NewUser("wes")
	send := map[string]any{"chat_id": u.ChatID(), "text": "x"}
	c := testClient(t)
	cases := []struct {
		fault    Fault
		executed bool // the message was stored despite the fault
		check    func(t *testing.T, status int, h http.Header, body []byte, err error)
	}{
		{Fault{Kind: FaultInternal}, false, func(t *testing.T, status int, _ http.Header, body []byte, err error) {
			var env envelope
			if err != nil || status != 500 || json.Unmarshal(body, &env) != nil || env.ErrorCode != 500 {
				t.Fatalf("500: %d %s %v", status, body, err)
			}
		}},
		{Fault{Kind: FaultBadGateway}, false, func(t *testing.T, status int, h http.Header, body []byte, err error) {
			var env envelope
			if err != nil || status != 502 || h.Get("Content-Type") != "text/html" || json.Unmarshal(body, &env) == nil {
				t.Fatalf("502: %d %q %v", status, body, err)
			}
		}},
		{Fault{Kind: FaultTooMany, RetryAfter: 7}, false, func(t *testing.T, status int, _ http.Header, body []byte, err error) {
			var env envelope
			if err != nil || status != 429 || json.Unmarshal(body, &env) != nil || env.Parameters == nil || env.Parameters.RetryAfter != 7 ||
				env.Description != "Too Many Requests: retry after 7" {
				t.Fatalf("429: %d %s %v", status, body, err)
			}
		}},
		{Fault{Kind: FaultHang, Duration: 10 * time.Millisecond}, true, func(t *testing.T, status int, _ http.Header, body []byte, err error) {
			if err != nil || status != 200 {
				t.Fatalf("short hang then served: %d %s %v", status, body, err)
			}
		}},
		{Fault{Kind: FaultCut}, true, func(t *testing.T, status int, _ http.Header, body []byte, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut: want unexpected EOF reading the body, got %d %q %v", status, body, err)
			}
		}},
		{Fault{Kind: FaultTrickle, Duration: 80 * time.Millisecond}, true, func(t *testing.T, status int, _ http.Header, body []byte, err error) {
			var env envelope
			if err != nil || status != 200 || json.Unmarshal(body, &env) != nil || !env.OK {
				t.Fatalf("trickle: %d %s %v", status, body, err)
			}
		}},
		{Fault{Kind: FaultMalformed}, true, func(t *testing.T, status int, _ http.Header, body []byte, err error) {
			var env envelope
			if err != nil || status != 200 || json.Unmarshal(body, &env) == nil {
				t.Fatalf("malformed: %d %s %v", status, body, err)
			}
		}},
		{Fault{Kind: FaultHuge, Size: 3 << 20}, true, func(t *testing.T, status int, _ http.Header, body []byte, err error) {
			var env envelope
			if err != nil || status != 200 || len(body) < 3<<20 || json.Unmarshal(body, &env) != nil || !env.OK {
				t.Fatalf("huge: %d, %d bytes, %v", status, len(body), err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(string(tc.fault.Kind), func(t *testing.T) {
			before := len(s.Messages(u.ChatID()))
			if err := s.ScriptFaults("sendMessage", tc.fault); err != nil {
				t.Fatal(err)
			}
			status, h, body, err := rawCall(context.Background(), c, s, "sendMessage", send)
			tc.check(t, status, h, body, err)
			if stored := len(s.Messages(u.ChatID())) - before; stored != map[bool]int{true: 1, false: 0}[tc.executed] {
				t.Fatalf("stored %d messages, executed=%v", stored, tc.executed)
			}
			// The script is used up: the next call is served normally.
			if status, _, _, err := rawCall(context.Background(), c, s, "sendMessage", send); err != nil || status != 200 {
				t.Fatalf("after the script: %d %v", status, err)
			}
		})
	}
	got := s.Counters().Faults
	for _, tc := range cases {
		if got[tc.fault.Kind] != 1 {
			t.Errorf("fault counter %s = %d", tc.fault.Kind, got[tc.fault.Kind])
		}
	}
}

func TestFaultHangReleasedByClient(t *testing.T) {
	s := newTestServer(t)
	if err := s.ScriptFaults("getMe", Fault{Kind: FaultHang}); err != nil { // default 60 s
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, _, err := rawCall(ctx, testClient(t), s, "getMe", nil)
		errc <- err
	}()
	wait.Until(t, 20*time.Second, "the first hang", func() bool { return s.Counters().Faults[FaultHang] == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	wait.Until(t, 20*time.Second, "getMe answered 499", func() bool { return s.Counters().Requests["getMe"][499] == 1 })
	// A hang is also released by Close (checked by goleak at exit).
	if err := s.ScriptFaults("", Fault{Kind: FaultHang}); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _, _, err := rawCall(context.Background(), testClient(t), s, "getMe", nil)
		errc <- err
	}()
	wait.Until(t, 20*time.Second, "the second hang", func() bool { return s.Counters().Faults[FaultHang] == 2 })
	s.Close()
	<-errc
}

func TestFaultRateSeeded(t *testing.T) {
	pattern := func(seed uint64) []bool {
		s := newTestServer(t, WithSeed(seed))
		if err := s.SetFaultRate("getMe", 0.3, Fault{Kind: FaultInternal}); err != nil {
			t.Fatal(err)
		}
		c := testClient(t)
		out := make([]bool, 100)
		for i := range out {
			status, _, _, err := rawCall(context.Background(), c, s, "getMe", nil)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = status == 500
		}
		if n := s.Counters().Faults[FaultInternal]; n < 10 || n > 60 {
			t.Fatalf("p=0.3 over 100 calls injected %d", n)
		}
		// Other methods are untouched.
		mustOK(t, call(t, s, "getMyCommands", nil))
		s.ClearFaults()
		mustOK(t, call(t, s, "getMe", nil))
		return out
	}
	a, b, c := pattern(42), pattern(42), pattern(43)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different fault pattern")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same fault pattern")
	}
	s := newTestServer(t)
	if err := s.SetFaultRate("noSuchMethod", 1, Fault{Kind: FaultInternal}); err == nil {
		t.Fatal("unknown method accepted")
	}
	if err := s.ScriptFaults("getMe", Fault{Kind: "explode"}); err == nil || !strings.Contains(err.Error(), "unknown fault kind") {
		t.Fatalf("unknown kind: %v", err)
	}
}
