package tg_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/tidygram/tidygram/tg"
)

func ExampleNewClient() {
	logCalls := func(next tg.Invoker) tg.Invoker {
		return func(ctx context.Context, method string, params, result any) error {
			err := next(ctx, method, params, result)
			if err != nil {
				log.Printf("%s: %v", method, err) // errors never hold the token
			}
			return err
		}
	}
	c, err := tg.NewClient("123456:ABC-secret",
		tg.WithBaseURL("http://127.0.0.1:8081"), // a local Bot API server
		tg.WithMaxDownloadBytes(2<<30),          // it serves files past 20 MB
		tg.WithMaxIdleConnsPerHost(64),          // as many as calls made at once
		tg.WithMiddleware(logCalls),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(c)
	// Output: tg.Client(http://127.0.0.1:8081/bot<token>)
}

func ExampleClient_Call() {
	// A stand-in for the Bot API.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bot123456:ABC-secret/sendMessage":
			io.WriteString(w, `{"ok":true,"result":{"message_id":7,"chat":{"id":42,"type":"private"},"text":"hello"}}`)
		default:
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}`)
		}
	}))
	defer srv.Close()
	c, err := tg.NewClient("123456:ABC-secret", tg.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sent struct {
		MessageID int64  `json:"message_id"`
		Text      string `json:"text"`
	}
	params := map[string]any{"chat_id": tg.ID(42), "text": "hello"}
	if err := c.Call(ctx, "sendMessage", params, &sent); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sent.MessageID, sent.Text)

	err = c.Call(ctx, "sendPhoto", map[string]any{"chat_id": tg.ID(42), "photo": tg.FileID("AgAC")}, nil)
	var apiErr *tg.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.ErrorCode, apiErr.RetryAfter)
	}
	// Output:
	// 7 hello
	// 429 3s
}

func ExampleClient_Download() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/file/bot123456:ABC-secret/documents/file_3.txt" {
			io.WriteString(w, "file contents\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	c, err := tg.NewClient("123456:ABC-secret", tg.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// filePath is File.FilePath from a getFile call.
	var b strings.Builder
	n, err := c.Download(context.Background(), "documents/file_3.txt", &b)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(n, " ", b.String())
	// Output: 14 file contents
}
