package libs

import (
	"context"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/mymmrac/telego"
	th "github.com/mymmrac/telego/telegohandler"
	tu "github.com/mymmrac/telego/telegoutil"
)

const telegoNote = "README: NewBot, UpdatesViaLongPolling(ctx, &GetUpdatesParams{Timeout}) (or UpdatesViaWebhook with " +
	"WebhookHTTPServeMux and SetWebhook), th.NewBotHandler + Handle(..., AnyMessageWithText) + Start, `defer bh.Stop()`; " +
	"stop: cancel ctx (closes the update channel once the poll returns), then bh.Stop drains; files: tu.File upload, " +
	"tu.DownloadFile(FileDownloadURL) download (reads the whole file into memory)"

var (
	telegoLib    = telegoVariant("telego", "default transport fasthttp (as the README ships it). ", false)
	telegoNetLib = telegoVariant("telego/net-http", "WithHTTPClient(&http.Client{}) (net/http instead of fasthttp). ", true)
)

func telegoVariant(name, note string, netHTTP bool) Lib {
	return Lib{
		Name:   name,
		Module: "github.com/mymmrac/telego",
		Note:   note + telegoNote,
		Run:    func(ctx context.Context, env Env) error { return telegoRun(ctx, env, netHTTP) },
		Upload: func(ctx context.Context, env Env, chatID int64, path string) (string, error) {
			return telegoUpload(ctx, env, chatID, path, netHTTP)
		},
		Download: func(ctx context.Context, env Env, fileID string, w io.Writer) (int64, error) {
			return telegoDownload(ctx, env, fileID, w, netHTTP)
		},
	}
}

func telegoNew(env Env, netHTTP bool) (*telego.Bot, error) {
	opts := []telego.BotOption{telego.WithAPIServer(env.URL)}
	if netHTTP {
		opts = append(opts, telego.WithHTTPClient(&http.Client{}))
	}
	return telego.NewBot(env.Token, opts...)
}

func telegoRun(ctx context.Context, env Env, netHTTP bool) error {
	b, err := telegoNew(env, netHTTP)
	if err != nil {
		return err
	}
	var updates <-chan telego.Update
	served := make(chan struct{})
	if wh := env.Webhook; wh != nil {
		if err := b.SetWebhook(ctx, &telego.SetWebhookParams{URL: wh.URL, SecretToken: wh.Secret}); err != nil {
			return err
		}
		mux := http.NewServeMux()
		updates, err = b.UpdatesViaWebhook(ctx, telego.WebhookHTTPServeMux(mux, "POST "+wh.Path, wh.Secret))
		if err != nil {
			return err
		}
		go func() {
			defer close(served)
			serveUntil(ctx, &http.Server{Handler: mux}, wh)
		}()
	} else {
		close(served)
		updates, err = b.UpdatesViaLongPolling(ctx, &telego.GetUpdatesParams{Timeout: int(env.PollTimeout / time.Second)})
		if err != nil {
			return err
		}
	}
	bh, err := th.NewBotHandler(b, updates)
	if err != nil {
		return err
	}
	bh.Handle(func(c *th.Context, update telego.Update) error {
		delay(c, env.HandlerDelay)
		_, err := c.Bot().SendMessage(c, tu.Message(tu.ID(update.Message.Chat.ID), Reply))
		env.Handled(int64(update.UpdateID), err)
		return err
	}, th.AnyMessageWithText())
	err = bh.Start() // returns once the update channel is closed
	bh.Stop()
	<-served
	return err
}

func telegoUpload(ctx context.Context, env Env, chatID int64, path string, netHTTP bool) (string, error) {
	b, err := telegoNew(env, netHTTP)
	if err != nil {
		return "", err
	}
	return uploadFile(path, func(f *os.File) (string, error) {
		msg, err := b.SendDocument(ctx, tu.Document(tu.ID(chatID), tu.File(f)))
		if err != nil {
			return "", err
		}
		return msg.Document.FileID, nil
	})
}

func telegoDownload(ctx context.Context, env Env, fileID string, w io.Writer, netHTTP bool) (int64, error) {
	b, err := telegoNew(env, netHTTP)
	if err != nil {
		return 0, err
	}
	f, err := b.GetFile(ctx, &telego.GetFileParams{FileID: fileID})
	if err != nil {
		return 0, err
	}
	data, err := tu.DownloadFile(b.FileDownloadURL(f.FilePath))
	if err != nil {
		return 0, err
	}
	n, err := w.Write(data)
	return int64(n), err
}
