package tgtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// envelope is a Bot API answer as a raw client sees it.
type envelope struct {
	OK          bool                `json:"ok"`
	Result      json.RawMessage     `json:"result"`
	ErrorCode   int                 `json:"error_code"`
	Description string              `json:"description"`
	Parameters  *ResponseParameters `json:"parameters"`
	status      int
}

func newTestServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return NewServer(append([]Option{WithTB(t), WithWebhookRetry(5*time.Millisecond, 50*time.Millisecond, 0)}, opts...)...)
}

// testClient is a raw HTTP client of the Bot API, closed at test end.
func testClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

func methodURL(s *Server, method string) string { return s.URL() + "/bot" + s.Token() + "/" + method }

// call posts params as JSON and decodes the envelope; it fails the test on
// a transport or decoding error.
func call(t testing.TB, s *Server, method string, params any) envelope {
	t.Helper()
	return callCtx(context.Background(), t, sharedClient(t, s), s, method, params)
}

// clients holds one keep-alive client per server, so that a test's calls
// reuse connections like a real bot's.
var clients sync.Map // *Server → *http.Client

func sharedClient(t testing.TB, s *Server) *http.Client {
	if c, ok := clients.Load(s); ok {
		return c.(*http.Client)
	}
	c := testClient(t)
	if prev, loaded := clients.LoadOrStore(s, c); loaded {
		return prev.(*http.Client)
	}
	t.Cleanup(func() { clients.Delete(s) })
	return c
}

func callCtx(ctx context.Context, t testing.TB, c *http.Client, s *Server, method string, params any) envelope {
	t.Helper()
	var body io.Reader
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, methodURL(s, method), body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, c, req)
}

func do(t testing.TB, c *http.Client, req *http.Request) envelope {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s: decode: %v", req.URL.Path, err)
	}
	env.status = resp.StatusCode
	return env
}

// callForm posts params form-urlencoded.
func callForm(t testing.TB, s *Server, method string, vals url.Values) envelope {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, methodURL(s, method), strings.NewReader(vals.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, sharedClient(t, s), req)
}

func mustOK(t testing.TB, env envelope) envelope {
	t.Helper()
	if !env.OK || env.status != 200 {
		t.Fatalf("want ok, got %d %d %q", env.status, env.ErrorCode, env.Description)
	}
	return env
}

func decodeResult[T any](t testing.TB, env envelope) T {
	t.Helper()
	mustOK(t, env)
	var v T
	if err := json.Unmarshal(env.Result, &v); err != nil {
		t.Fatalf("result %s: %v", env.Result, err)
	}
	return v
}

func getUpdates(t testing.TB, s *Server, params map[string]any) []Update {
	t.Helper()
	return decodeResult[[]Update](t, call(t, s, "getUpdates", params))
}

func updateIDs(us []Update) []int64 {
	ids := make([]int64, len(us))
	for i, u := range us {
		ids[i] = u.UpdateID
	}
	return ids
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantError(t testing.TB, env envelope, code int, desc string) {
	t.Helper()
	if env.OK || env.status != code || env.ErrorCode != code || !strings.HasPrefix(env.Description, desc) {
		t.Fatalf("want %d %q, got status %d ok=%v %d %q", code, desc, env.status, env.OK, env.ErrorCode, env.Description)
	}
}

func newJSONRequest(ctx context.Context, s *Server, method string, params any) (*http.Request, error) {
	b, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, methodURL(s, method), bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
