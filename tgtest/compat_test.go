package tgtest

import (
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
)

// Requests real Telegram accepts from other client libraries.
func TestClientQuirksAccepted(t *testing.T) {
	s := NewServer(WithTB(t))
	if i := strings.IndexByte(s.Token(), ':'); len(s.Token())-i-1 != 35 {
		t.Errorf("default token %q: want 35 characters after the colon, as Telegram's", s.Token())
	}
	tests := []struct {
		name, method, ctype, body string
	}{
		{"empty multipart getMe", "getMe", "multipart/form-data; boundary=xyz", ""},
		{"JSON null body", "getMe", "application/json", "null"},
		{"allowed_updates as the string null", "getUpdates", "application/json", `{"allowed_updates":"null","timeout":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(s.URL()+"/bot"+s.Token()+"/"+tt.method, tt.ctype, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"ok":true`) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
}

// onlyReader hides every method but Read, so net/http cannot learn the
// body's length and must send it chunked.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestEmptyChunkedMultipart: go-telegram/bot sends parameterless calls as
// multipart/form-data with Transfer-Encoding: chunked and an empty body;
// Telegram answers them, so the emulator must too. The test checks that
// the request really went chunked (ContentLength -1 on the wire).
func TestEmptyChunkedMultipart(t *testing.T) {
	s := NewServer(WithTB(t))
	for _, method := range []string{"getMe", "getUpdates"} {
		t.Run(method, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, s.URL()+"/bot"+s.Token()+"/"+method, onlyReader{strings.NewReader("")})
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "multipart/form-data; boundary=0123456789abcdef")
			if req.ContentLength != 0 {
				t.Fatalf("ContentLength %d, want 0 (unknown) for a reader without a length", req.ContentLength)
			}
			var chunked atomic.Bool
			trace := &httptrace.ClientTrace{WroteHeaderField: func(k string, v []string) {
				if strings.EqualFold(k, "Transfer-Encoding") && len(v) == 1 && v[0] == "chunked" {
					chunked.Store(true)
				}
			}}
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !chunked.Load() {
				t.Fatal("the request was not sent with Transfer-Encoding: chunked")
			}
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"ok":true`) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestIdleTimeout: a keep-alive connection idle for the idle timeout is
// closed by the server, and counted; one in use is not.
func TestIdleTimeout(t *testing.T) {
	s := NewServer(WithTB(t), WithIdleTimeout(20*time.Millisecond))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for range 3 {
		resp, err := hc.Post(s.URL()+"/bot"+s.Token()+"/getMe", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		var c Counters
		if !wait.For(10*time.Second, func() bool { c = s.Counters(); return c.OpenConns == 0 }) {
			t.Fatalf("the idle connection is still open: %+v", c)
		}
		tr.CloseIdleConnections() // the client may not have noticed yet: not this test's subject
	}
	if c := s.Counters(); c.IdleConnsClosed != 3 || c.ConnsAccepted != 3 {
		t.Fatalf("%d idle connections closed of %d accepted, want 3 of 3", c.IdleConnsClosed, c.ConnsAccepted)
	}
	if _, err := New(WithIdleTimeout(0)); err == nil {
		t.Fatal("WithIdleTimeout(0) accepted")
	}
}
