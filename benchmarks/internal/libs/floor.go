package libs

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// The floor is the smallest correct bot a careful programmer would write
// with net/http alone: one long poll, a fixed pool of floorWorkers workers,
// a keep-alive pool sized to them, structs holding only the fields used,
// capped bodies and a constant-time secret check. It is the yardstick, not
// a framework: it confirms updates as it fetches them (a crash loses the
// ones in flight) and keeps no per-chat order.
const (
	floorWorkers   = 16
	floorBodyCap   = 16 << 20 // getUpdates answers: 100 updates fit easily
	floorHookCap   = 1 << 20  // webhook request bodies
	floorReplyCap  = 1 << 20  // sendMessage answers
	floorErrorWait = 500 * time.Millisecond
)

var floor = Lib{
	Name: "floor",
	Note: "hand-written net/http loop: 1 long poll, 16 workers, 17 keep-alive connections, minimal structs, " +
		"capped bodies, constant-time secret; confirms on fetch",
	Run:      floorRun,
	Upload:   floorUpload,
	Download: floorDownload,
}

type floorUpdate struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	} `json:"message"`
}

type floorAnswer[T any] struct {
	OK          bool   `json:"ok"`
	Description string `json:"description"`
	Result      T      `json:"result"`
}

type floorBot struct {
	env    Env
	base   string
	client *http.Client
}

func newFloorBot(env Env) *floorBot {
	tr := &http.Transport{
		MaxIdleConns:        floorWorkers + 1,
		MaxIdleConnsPerHost: floorWorkers + 1,
		IdleConnTimeout:     90 * time.Second,
	}
	return &floorBot{env: env, base: env.URL + "/bot" + env.Token + "/", client: &http.Client{Transport: tr}}
}

// call POSTs a JSON body (or GETs when body is nil) and decodes the answer's result into out.
func floorCall[T any](ctx context.Context, b *floorBot, method string, body []byte, out *T, limit int64) error {
	verb, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		verb, rd = http.MethodPost, bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, verb, b.base+method, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	return floorDecode(resp, method, out, limit)
}

func floorDecode[T any](resp *http.Response, method string, out *T, limit int64) error {
	defer resp.Body.Close()
	var a floorAnswer[T]
	err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(&a)
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if err != nil {
		return fmt.Errorf("%s: %d: %w", method, resp.StatusCode, err)
	}
	if !a.OK {
		return fmt.Errorf("%s: %d: %s", method, resp.StatusCode, a.Description)
	}
	if out != nil {
		*out = a.Result
	}
	return nil
}

func (b *floorBot) reply(ctx context.Context, chatID int64) error {
	body := make([]byte, 0, 64)
	body = append(body, `{"chat_id":`...)
	body = strconv.AppendInt(body, chatID, 10)
	body = append(body, `,"text":"`+Reply+`"}`...)
	var none struct{}
	return floorCall(ctx, b, "sendMessage", body, &none, floorReplyCap)
}

func (b *floorBot) handle(ctx context.Context, u floorUpdate) {
	if u.Message == nil {
		return
	}
	delay(ctx, b.env.HandlerDelay)
	b.env.Handled(u.UpdateID, b.reply(ctx, u.Message.Chat.ID))
}

func floorRun(ctx context.Context, env Env) error {
	b := newFloorBot(env)
	defer b.client.CloseIdleConnections()
	if env.Webhook != nil {
		return b.serveWebhook(ctx)
	}
	jobs := make(chan floorUpdate, 100)
	var wg sync.WaitGroup
	for range floorWorkers {
		wg.Go(func() {
			for u := range jobs {
				b.handle(ctx, u)
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	offset := int64(0)
	timeout := strconv.Itoa(int(env.PollTimeout / time.Second))
	for ctx.Err() == nil {
		var batch []floorUpdate
		err := floorCall(ctx, b, "getUpdates?timeout="+timeout+"&offset="+strconv.FormatInt(offset, 10), nil, &batch, floorBodyCap)
		if err != nil {
			delay(ctx, floorErrorWait)
			continue
		}
		for _, u := range batch {
			offset = u.UpdateID + 1
			select {
			case jobs <- u:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

func (b *floorBot) serveWebhook(ctx context.Context) error {
	wh := b.env.Webhook
	set, _ := json.Marshal(map[string]string{"url": wh.URL, "secret_token": wh.Secret})
	var ok bool
	if err := floorCall(ctx, b, "setWebhook", set, &ok, floorReplyCap); err != nil {
		return err
	}
	secret := []byte(wh.Secret)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wh.Path, func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Telegram-Bot-Api-Secret-Token")), secret) != 1 {
			http.Error(w, "wrong secret", http.StatusUnauthorized)
			return
		}
		var u floorUpdate
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, floorHookCap)).Decode(&u); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "bad update", http.StatusBadRequest)
			return
		}
		b.handle(ctx, u)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	return serveUntil(ctx, srv, wh)
}

// serveUntil serves srv on wh.Listener until ctx ends, then shuts it down
// (at most 5 s) and returns after Serve returned.
func serveUntil(ctx context.Context, srv *http.Server, wh *Webhook) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(wh.Listener) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	return err
}

func floorUpload(ctx context.Context, env Env, chatID int64, path string) (string, error) {
	b := newFloorBot(env)
	defer b.client.CloseIdleConnections()
	return uploadFile(path, func(f *os.File) (string, error) { return b.upload(ctx, f, chatID) })
}

// upload streams f as a multipart sendDocument.
func (b *floorBot) upload(ctx context.Context, f *os.File, chatID int64) (string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	written := make(chan struct{})
	go func() {
		defer close(written)
		err := mw.WriteField("chat_id", strconv.FormatInt(chatID, 10))
		if err == nil {
			var part io.Writer
			if part, err = mw.CreateFormFile("document", filepath.Base(f.Name())); err == nil {
				if _, err = io.Copy(part, f); err == nil {
					err = mw.Close()
				}
			}
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"sendDocument", pr)
	if err != nil {
		pr.Close()
		<-written
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := b.client.Do(req)
	pr.CloseWithError(errors.New("request done")) // ends the writer if the request failed early
	<-written
	if err != nil {
		return "", err
	}
	var msg struct {
		Document struct {
			FileID string `json:"file_id"`
		} `json:"document"`
	}
	if err := floorDecode(resp, "sendDocument", &msg, floorReplyCap); err != nil {
		return "", err
	}
	return msg.Document.FileID, nil
}

func floorDownload(ctx context.Context, env Env, fileID string, w io.Writer) (int64, error) {
	b := newFloorBot(env)
	defer b.client.CloseIdleConnections()
	var file struct {
		FilePath string `json:"file_path"`
	}
	if err := floorCall(ctx, b, "getFile?file_id="+url.QueryEscape(fileID), nil, &file, floorReplyCap); err != nil {
		return 0, err
	}
	return httpDownload(ctx, b.client, env.URL+"/file/bot"+env.Token+"/"+file.FilePath, w)
}

// httpDownload streams url to w with client: the download path of the
// libraries that only give a URL.
func httpDownload(ctx context.Context, client *http.Client, url string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("download: status %d", resp.StatusCode)
	}
	return io.Copy(w, resp.Body)
}
