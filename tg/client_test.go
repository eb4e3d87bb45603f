package tg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/tidygram/tidygram/internal/wait"
)

// testToken has the shape of a real token; the redaction tests also use a
// token with characters that URLs escape.
const testToken = "123456789:AAE-test_TOKEN-0123456789abcdefghijk"

// fakeAPI is a small Bot API on 127.0.0.1: it checks the token in the path
// and hands the method name to the test's handler. It counts the TCP
// connections clients open to it.
type fakeAPI struct {
	srv      *httptest.Server
	token    string
	newConns atomic.Int64
}

// apiHandler answers one request; method is the path's last segment.
type apiHandler func(w http.ResponseWriter, r *http.Request, method string)

func newFakeAPI(t testing.TB, h apiHandler) *fakeAPI {
	return newFakeAPIToken(t, testToken, h)
}

func newFakeAPIToken(t testing.TB, token string, h apiHandler) *fakeAPI {
	f := &fakeAPI{token: token}
	prefix := "/bot" + token + "/"
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			method, ok = strings.CutPrefix(r.URL.Path, "/file/bot"+token+"/")
			if !ok {
				writeAnswer(w, 404, `{"ok":false,"error_code":404,"description":"Not Found"}`)
				return
			}
			method = "file:" + method
		}
		h(w, r, method)
	}))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.newConns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// client returns a Client of the server's own (its Transport closed at
// cleanup) with opts appended.
func (f *fakeAPI) client(t testing.TB, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(f.token, append([]Option{WithBaseURL(f.srv.URL)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// countingClient returns a Client sending through a RoundTripper that counts
// response bodies not yet closed.
func (f *fakeAPI) countingClient(t testing.TB, opts ...Option) (*Client, *bodyCounter) {
	t.Helper()
	tr := newTransport(4, &connCounter{})
	t.Cleanup(tr.CloseIdleConnections)
	bc := &bodyCounter{next: tr}
	return f.client(t, append([]Option{WithHTTPClient(&http.Client{Transport: bc})}, opts...)...), bc
}

func writeAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// bodyCounter wraps a RoundTripper and counts the response bodies it handed
// out that are not closed yet.
type bodyCounter struct {
	next http.RoundTripper
	open atomic.Int64
	seen atomic.Int64
}

func (b *bodyCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(r)
	if err == nil {
		b.open.Add(1)
		b.seen.Add(1)
		resp.Body = &countedBody{ReadCloser: resp.Body, bc: b}
	}
	return resp, err
}

type countedBody struct {
	io.ReadCloser
	once sync.Once
	bc   *bodyCounter
}

func (c *countedBody) Close() error {
	c.once.Do(func() { c.bc.open.Add(-1) })
	return c.ReadCloser.Close()
}

type testMessage struct {
	MessageID int64  `json:"message_id"`
	Text      string `json:"text"`
}

type testSendMessage struct {
	ChatID ChatID `json:"chat_id"`
	Text   string `json:"text"`
}

func (p *testSendMessage) TargetChat() ChatID { return p.ChatID }

// hijackWrite writes raw bytes on the connection and closes it.
func hijackWrite(w http.ResponseWriter, raw string) {
	conn, bw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	bw.WriteString(raw)
	bw.Flush()
	conn.Close()
}

func TestCallAnswers(t *testing.T) {
	big := `{"ok":true,"result":{"text":"` + strings.Repeat("x", 2048) + `"}}`
	cases := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		check   func(t *testing.T, err error, got *testMessage)
	}{
		{"ok result decoded",
			func(w http.ResponseWriter, r *http.Request) {
				writeAnswer(w, 200, `{"ok":true,"result":{"message_id":42,"text":"hi","unknown_field":[1,2]}}`)
			},
			func(t *testing.T, err error, got *testMessage) {
				if err != nil || got.MessageID != 42 || got.Text != "hi" {
					t.Fatalf("err %v, result %+v", err, got)
				}
			}},
		{"400 bad request", apiAnswer(400, `"Bad Request: chat not found"`, ""),
			wantAPIError(APIError{Method: "sendMessage", ErrorCode: 400, Description: "Bad Request: chat not found"})},
		{"401 unauthorized", apiAnswer(401, `"Unauthorized"`, ""),
			wantAPIError(APIError{Method: "sendMessage", ErrorCode: 401, Description: "Unauthorized"})},
		{"403 blocked", apiAnswer(403, `"Forbidden: bot was blocked by the user"`, ""),
			wantAPIError(APIError{Method: "sendMessage", ErrorCode: 403, Description: "Forbidden: bot was blocked by the user"})},
		{"404 not found", apiAnswer(404, `"Not Found"`, ""),
			wantAPIError(APIError{Method: "sendMessage", ErrorCode: 404, Description: "Not Found"})},
		{"409 conflict", apiAnswer(409, `"Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"`, ""),
			wantAPIError(APIError{Method: "sendMessage", ErrorCode: 409, Description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"})},
		{"429 retry_after", apiAnswer(429, `"Too Many Requests: retry after 7"`, `{"retry_after":7}`),
			wantAPIError(APIError{Method: "sendMessage", ErrorCode: 429, Description: "Too Many Requests: retry after 7", RetryAfter: 7 * time.Second})},
		{"400 migrate_to_chat_id", apiAnswer(400, `"Bad Request: group chat was upgraded to a supergroup chat"`, `{"migrate_to_chat_id":-1001234567890123}`),
			wantAPIError(APIError{Method: "sendMessage", ErrorCode: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateToChatID: -1001234567890123})},
		{"ok=false without error_code takes the HTTP status",
			func(w http.ResponseWriter, r *http.Request) {
				writeAnswer(w, 500, `{"ok":false,"description":"Internal Server Error"}`)
			},
			wantAPIError(APIError{Method: "sendMessage", ErrorCode: 500, Description: "Internal Server Error"})},
		{"ok=false with HTTP 200",
			func(w http.ResponseWriter, r *http.Request) {
				writeAnswer(w, 200, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`)
			},
			wantAPIError(APIError{Method: "sendMessage", ErrorCode: 400, Description: "Bad Request: message text is empty"})},
		{"HTML 502 from a proxy",
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head></html>")
			},
			wantResponseError(502, "invalid character '<'", "<html><head>")},
		{"JSON that is not an envelope",
			func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, 200, `{"result":{"message_id":1}}`) },
			wantResponseError(200, `no boolean "ok"`, "")},
		{"ok of the wrong type",
			func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, 200, `{"ok":"true","result":{}}`) },
			wantResponseError(200, `"ok" is not a boolean`, "")},
		{"ok=true with HTTP 500",
			func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, 500, `{"ok":true,"result":{}}`) },
			wantResponseError(500, "HTTP status 500", "")},
		{"result of the wrong type",
			func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, 200, `{"ok":true,"result":"a string"}`) },
			wantResponseError(200, "unmarshal JSON string into Go", "")},
		{"truncated JSON in a complete body",
			func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, 200, `{"ok":true,"result":{"message_`) },
			wantResponseError(200, "unexpected end of JSON input", `{"ok":true`)},
		{"empty body",
			func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) },
			wantResponseError(200, "unexpected end of JSON input", "")},
		{"body shorter than its Content-Length",
			func(w http.ResponseWriter, r *http.Request) {
				hijackWrite(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ok\":true,\"result\":")
			},
			func(t *testing.T, err error, _ *testMessage) {
				var ne *NetworkError
				if !errors.As(err, &ne) || ne.NotSent() || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("want a sent *NetworkError wrapping io.ErrUnexpectedEOF, got %T %v", err, err)
				}
			}},
		{"connection closed after the request was read",
			func(w http.ResponseWriter, r *http.Request) { hijackWrite(w, "") },
			func(t *testing.T, err error, _ *testMessage) {
				var ne *NetworkError
				if !errors.As(err, &ne) || ne.NotSent() {
					t.Fatalf("want a *NetworkError with NotSent false, got %T %v", err, err)
				}
			}},
		{"oversized body with Content-Length",
			func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, 200, big) },
			wantTooLarge},
		{"oversized chunked body",
			func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				for i := 0; i < len(big); i += 100 {
					io.WriteString(w, big[i:min(i+100, len(big))])
					w.(http.Flusher).Flush()
				}
			},
			wantTooLarge},
	}
	var current atomic.Pointer[func(http.ResponseWriter, *http.Request)]
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, method string) {
		if method != "sendMessage" || r.Header.Get("Content-Type") != "application/json" {
			writeAnswer(w, 400, `{"ok":false,"error_code":400,"description":"unexpected request"}`)
			return
		}
		(*current.Load())(w, r)
	})
	c, bodies := f.countingClient(t, WithMaxResponseBytes(1024))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			current.Store(&tc.handler)
			var got testMessage
			err := c.Call(context.Background(), "sendMessage", &testSendMessage{ChatID: ID(1), Text: "hi"}, &got)
			tc.check(t, err, &got)
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Errorf("error holds the token: %v", err)
			}
			if n := bodies.open.Load(); n != 0 {
				t.Fatalf("%d response bodies left open", n)
			}
		})
	}
	if bodies.seen.Load() < int64(len(cases))-1 {
		t.Fatalf("only %d responses went through the counting RoundTripper", bodies.seen.Load())
	}
}

func apiAnswer(status int, description, parameters string) func(http.ResponseWriter, *http.Request) {
	body := fmt.Sprintf(`{"ok":false,"error_code":%d,"description":%s`, status, description)
	if parameters != "" {
		body += `,"parameters":` + parameters
	}
	body += "}"
	return func(w http.ResponseWriter, r *http.Request) { writeAnswer(w, status, body) }
}

func wantAPIError(want APIError) func(*testing.T, error, *testMessage) {
	return func(t *testing.T, err error, _ *testMessage) {
		t.Helper()
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("want *APIError, got %T %v", err, err)
		}
		if *ae != want {
			t.Fatalf("got %+v\nwant %+v", *ae, want)
		}
		msg := err.Error()
		if !strings.Contains(msg, want.Method) || !strings.Contains(msg, fmt.Sprint(want.ErrorCode)) || !strings.Contains(msg, want.Description) {
			t.Fatalf("message %q lacks method, code or description", msg)
		}
	}
}

func wantResponseError(status int, cause, body string) func(*testing.T, error, *testMessage) {
	return func(t *testing.T, err error, _ *testMessage) {
		t.Helper()
		var re *ResponseError
		if !errors.As(err, &re) {
			t.Fatalf("want *ResponseError, got %T %v", err, err)
		}
		if re.StatusCode != status || !strings.Contains(re.Err.Error(), cause) || !strings.HasPrefix(re.Body, body) {
			t.Fatalf("got status %d, cause %q, body %q; want %d, %q, %q…", re.StatusCode, re.Err, re.Body, status, cause, body)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", status)) {
			t.Fatalf("message %q lacks the HTTP status", err)
		}
	}
}

func wantTooLarge(t *testing.T, err error, _ *testMessage) {
	t.Helper()
	var re *ResponseError
	if !errors.As(err, &re) || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want *ResponseError wrapping ErrTooLarge, got %T %v", err, err)
	}
}

// TestConnectionReuse: sequential calls, successful or failed with an API
// error, share one TCP connection; a body over the cap costs its connection.
func TestConnectionReuse(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, method string) {
		switch method {
		case "getMe":
			writeAnswer(w, 200, `{"ok":true,"result":{"message_id":1}}`)
		case "tooBig":
			writeAnswer(w, 200, `{"ok":true,"result":"`+strings.Repeat("y", 4096)+`"}`)
		default:
			writeAnswer(w, 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`)
		}
	})
	c := f.client(t, WithMaxResponseBytes(1024))
	const n = 40
	for i := 0; i < n; i++ {
		method := "getMe"
		if i%3 == 0 {
			method = "sendMessage"
		}
		err := c.Call(context.Background(), method, nil, nil)
		if (method == "getMe") != (err == nil) {
			t.Fatalf("call %d (%s): %v", i, method, err)
		}
	}
	if got := f.newConns.Load(); got != 1 {
		t.Fatalf("%d sequential calls opened %d connections, want 1", n, got)
	}
	if err := c.Call(context.Background(), "tooBig", nil, nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
	if err := c.Call(context.Background(), "getMe", nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.newConns.Load(); got != 2 {
		t.Fatalf("after an oversized body: %d connections, want 2 (the oversized one is not reused)", got)
	}
	if open, dialed := c.ConnStats(); open != 1 || dialed != 2 {
		t.Fatalf("ConnStats = %d open, %d dialled; want 1 and 2 (the oversized answer's connection closed)", open, dialed)
	}
	c.Close()
	if open, _ := c.ConnStats(); open != 0 {
		t.Fatalf("ConnStats after Close = %d open, want 0", open)
	}
}

// TestCallContextEnds: ending ctx while the server holds the request ends
// the call with the context's error, and the server sees the request go.
func TestCallContextEnds(t *testing.T) {
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	arrived := make(chan struct{}, 1)
	release := make(chan struct{}) // ends a handler that never sees its request go
	var gone atomic.Int64
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, method string) {
		io.Copy(io.Discard, r.Body) // the server notices a closed connection once the body is read
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			gone.Add(1)
		case <-release:
		}
	})
	defer close(release)
	c, bodies := f.countingClient(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- c.Call(ctx, "getUpdates", map[string]int{"timeout": 50}, nil) }()
			<-arrived
			if tc.want == context.Canceled {
				cancel()
			}
			var err error
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				t.Fatal("Call did not return 20 s after its context ended")
			}
			var ne *NetworkError
			if !errors.Is(err, tc.want) || !errors.As(err, &ne) {
				t.Fatalf("want a *NetworkError wrapping %v, got %T %v", tc.want, err, err)
			}
			if bodies.open.Load() != 0 {
				t.Fatal("a response body is open")
			}
			wait.Until(t, 20*time.Second, "the server's handler seeing the request go away", func() bool { return gone.Load() == int64(i+1) })
		})
	}
}

// TestNotSent: only failures before a connection exists are NotSent.
func TestNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	hangUp := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) { hijackWrite(w, "") })

	cases := []struct {
		name, base string
		notSent    bool
	}{
		{"connection refused", refused, true},
		{"TLS certificate not trusted", tlsSrv.URL, true},
		{"connection closed after the request", hangUp.srv.URL, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(testToken, WithBaseURL(tc.base))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Call(context.Background(), "getMe", nil, nil)
			var ne *NetworkError
			if !errors.As(err, &ne) {
				t.Fatalf("want *NetworkError, got %T %v", err, err)
			}
			if ne.NotSent() != tc.notSent {
				t.Fatalf("NotSent() = %v, want %v (%v)", ne.NotSent(), tc.notSent, err)
			}
			if ne.Method != "getMe" || ne.Unwrap() == nil {
				t.Fatalf("method %q, cause %v", ne.Method, ne.Unwrap())
			}
			assertNoToken(t, err, testToken)
		})
	}
}

// assertNoToken fails if the token appears in err's message, in the message
// of anything in its chain, or in a *url.Error's URL.
func assertNoToken(t *testing.T, err error, token string) {
	t.Helper()
	escaped := url.PathEscape(token)
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if ue, ok := e.(*url.Error); ok {
			msg += " " + ue.URL
		}
		if strings.Contains(msg, token) || strings.Contains(msg, escaped) {
			t.Fatalf("token in %T: %q", e, msg)
		}
	}
}

func TestNewClientRejects(t *testing.T) {
	cases := []struct {
		name  string
		token string
		opts  []Option
		want  string
	}{
		{"empty token", "", nil, "empty bot token"},
		{"token with a slash", "1:a/b", nil, "not allowed"},
		{"token with a space", "1:a b", nil, "not allowed"},
		{"relative base URL", testToken, []Option{WithBaseURL("/api")}, "base URL"},
		{"ftp base URL", testToken, []Option{WithBaseURL("ftp://example.org")}, "base URL"},
		{"base URL with a query", testToken, []Option{WithBaseURL("http://127.0.0.1:1/?x=1")}, "base URL"},
		{"unparsable base URL", testToken, []Option{WithBaseURL("http://[::1")}, "base URL"},
		{"zero response cap", testToken, []Option{WithMaxResponseBytes(0)}, "WithMaxResponseBytes"},
		{"negative download cap", testToken, []Option{WithMaxDownloadBytes(-1)}, "WithMaxDownloadBytes"},
		{"zero idle pool", testToken, []Option{WithMaxIdleConnsPerHost(0)}, "WithMaxIdleConnsPerHost"},
		{"negative header timeout", testToken, []Option{WithResponseHeaderTimeout(-time.Second)}, "WithResponseHeaderTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.token, tc.opts...)
			if err == nil || c != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error about %q", c, err, tc.want)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Fatalf("error holds the token: %v", err)
			}
		})
	}
}

func TestCallRejectsBadArguments(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		writeAnswer(w, 200, `{"ok":true,"result":true}`)
	})
	c := f.client(t)
	var s string
	cases := []struct {
		name     string
		method   string
		params   any
		result   any
		contains string
	}{
		{"path in the method", "../file/x", nil, nil, "invalid method name"},
		{"empty method", "", nil, nil, "invalid method name"},
		{"non-pointer result", "getMe", nil, s, "non-nil pointer"},
		{"nil pointer result", "getMe", nil, (*string)(nil), "non-nil pointer"},
		{"params that do not encode", "getMe", map[string]any{"f": func() {}}, nil, "encoding params"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Call(context.Background(), tc.method, tc.params, tc.result)
			if err == nil || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("got %v, want an error about %q", err, tc.contains)
			}
		})
	}
	if got := f.newConns.Load(); got != 0 {
		t.Fatalf("bad arguments reached the server (%d connections)", got)
	}
}

// TestCallBody: the request the server receives for JSON params, for no
// params, and for a typed nil params pointer.
func TestCallBody(t *testing.T) {
	type seen struct{ contentType, body string }
	got := make(chan seen, 1)
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Get("Content-Type"), string(b)}
		writeAnswer(w, 200, `{"ok":true,"result":true}`)
	})
	c := f.client(t)
	cases := []struct {
		name   string
		params any
		want   seen
	}{
		{"params", &testSendMessage{ChatID: Username("chan"), Text: "a\"b"}, seen{"application/json", `{"chat_id":"@chan","text":"a\"b"}`}},
		{"nil", nil, seen{"", ""}},
		{"typed nil", (*testSendMessage)(nil), seen{"", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ok bool
			if err := c.Call(context.Background(), "sendMessage", tc.params, &ok); err != nil || !ok {
				t.Fatalf("%v, result %v", err, ok)
			}
			if s := <-got; s != tc.want {
				t.Fatalf("server saw %+v, want %+v", s, tc.want)
			}
		})
	}
}

// TestMiddlewareOrder: WithMiddleware runs outermost first and sees method,
// params and the result after the call.
func TestMiddlewareOrder(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		writeAnswer(w, 200, `{"ok":true,"result":{"message_id":7}}`)
	})
	var trail []string
	mw := func(name string) Middleware {
		return func(next Invoker) Invoker {
			return func(ctx context.Context, method string, params, result any) error {
				chat := ""
				if ct, ok := params.(ChatTargeter); ok {
					chat = ct.TargetChat().String()
				}
				trail = append(trail, name+">"+method+"@"+chat)
				err := next(ctx, method, params, result)
				trail = append(trail, fmt.Sprintf("%s<%d", name, result.(*testMessage).MessageID))
				return err
			}
		}
	}
	c := f.client(t, WithMiddleware(mw("a"), mw("b")), WithMiddleware(mw("c")))
	var m testMessage
	if err := c.Call(context.Background(), "sendMessage", &testSendMessage{ChatID: ID(-100)}, &m); err != nil {
		t.Fatal(err)
	}
	want := "a>sendMessage@-100 b>sendMessage@-100 c>sendMessage@-100 c<7 b<7 a<7"
	if got := strings.Join(trail, " "); got != want {
		t.Fatalf("trail %q, want %q", got, want)
	}
}

// TestTokenRedaction: the token, plain or URL-escaped, is in no error and no
// formatted Client, whatever the server echoes.
func TestTokenRedaction(t *testing.T) {
	for _, token := range []string{testToken, "42:weird|token{x}^y"} {
		t.Run(token, func(t *testing.T) {
			echo := func(r *http.Request) string {
				return strings.Repeat(".", 40) + r.URL.String() + " " + r.URL.RawPath + " " + r.RequestURI
			}
			f := newFakeAPIToken(t, token, func(w http.ResponseWriter, r *http.Request, method string) {
				switch {
				case method == "apiError":
					writeAnswer(w, 400, fmt.Sprintf(`{"ok":false,"error_code":400,"description":%q}`, "Bad Request: "+echo(r)))
				case method == "html":
					for i := 0; i < 64; i++ { // the token at every offset around the 64-byte snippet
						fmt.Fprintf(w, "%s<p>%s</p>", strings.Repeat(" ", i), echo(r))
					}
				case method == "hangUp" || method == "file:hangUp":
					hijackWrite(w, "")
				default:
					writeAnswer(w, 404, fmt.Sprintf(`{"ok":false,"error_code":404,"description":%q}`, echo(r)))
				}
			})
			c, err := NewClient(token, WithBaseURL(f.srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			var errs []error
			for _, m := range []string{"apiError", "html", "hangUp"} {
				errs = append(errs, c.Call(ctx, m, nil, nil))
			}
			_, err = c.Download(ctx, "missing", io.Discard)
			errs = append(errs, err)
			_, err = c.Download(ctx, "hangUp", io.Discard)
			errs = append(errs, err)
			dead, _ := NewClient(token, WithBaseURL("http://127.0.0.1:1"))
			defer dead.Close()
			errs = append(errs, dead.Call(ctx, "getMe", nil, nil))
			_, err = dead.Download(ctx, "x", io.Discard)
			errs = append(errs, err)
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			errs = append(errs, c.Call(cancelled, "getMe", nil, nil))
			for i, err := range errs {
				if err == nil {
					t.Fatalf("case %d: no error", i)
				}
				assertNoToken(t, err, token)
				for _, verb := range []string{"%v", "%+v", "%#v"} {
					if s := fmt.Sprintf(verb, err); strings.Contains(s, token) || strings.Contains(s, url.PathEscape(token)) {
						t.Fatalf("case %d: %s of the error holds the token: %s", i, verb, s)
					}
				}
			}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				if s := fmt.Sprintf(verb, c); strings.Contains(s, token) {
					t.Fatalf("%s of the Client holds the token: %s", verb, s)
				}
			}
		})
	}
}

// TestPanicInMiddlewareHoldsNoToken: a middleware that panics with
// everything it can reach (Client, ctx, params) does not reveal the token.
func TestPanicInMiddlewareHoldsNoToken(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		writeAnswer(w, 200, `{"ok":true,"result":true}`)
	})
	var c *Client
	c = f.client(t, WithMiddleware(func(next Invoker) Invoker {
		return func(ctx context.Context, method string, params, result any) error {
			err := next(ctx, method, params, result)
			panic(fmt.Sprintf("%+v %#v %v %+v %v", c, c, ctx, params, err))
		}
	}))
	defer func() {
		p := recover()
		if p == nil {
			t.Fatal("no panic")
		}
		if s := fmt.Sprint(p); strings.Contains(s, testToken) || !strings.Contains(s, redactedToken) {
			t.Fatalf("panic %q: holds the token or does not show the redacted Client", s)
		}
	}()
	c.Call(context.Background(), "getMe", &testSendMessage{Text: "x"}, nil)
}

// BenchmarkCall measures one small call round trip against an httptest
// server on 127.0.0.1 (client and server in this process: the allocations
// include the server's).
func BenchmarkCall(b *testing.B) {
	f := newFakeAPI(b, func(w http.ResponseWriter, r *http.Request, _ string) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"result":{"message_id":12345,"text":"hello, world"}}`)
	})
	c := f.client(b)
	p := &testSendMessage{ChatID: ID(-1001234567890), Text: "hello, world"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var m testMessage
		if err := c.Call(ctx, "sendMessage", p, &m); err != nil || m.MessageID != 12345 {
			b.Fatal(err, m)
		}
	}
}

// BenchmarkRawHTTP is the floor: the same round trip with net/http alone
// (marshal, POST, io.ReadAll, unmarshal), for comparison with BenchmarkCall.
func BenchmarkRawHTTP(b *testing.B) {
	f := newFakeAPI(b, func(w http.ResponseWriter, r *http.Request, _ string) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"result":{"message_id":12345,"text":"hello, world"}}`)
	})
	hc := &http.Client{Transport: newTransport(4, &connCounter{})}
	defer hc.Transport.(*http.Transport).CloseIdleConnections()
	u := f.srv.URL + "/bot" + testToken + "/sendMessage"
	p := &testSendMessage{ChatID: ID(-1001234567890), Text: "hello, world"}
	b.ReportAllocs()
	for b.Loop() {
		body, err := json.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := hc.Post(u, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		var env struct {
			OK     bool        `json:"ok"`
			Result testMessage `json:"result"`
		}
		if err != nil || json.Unmarshal(data, &env) != nil || env.Result.MessageID != 12345 {
			b.Fatal(err, string(data))
		}
	}
}
