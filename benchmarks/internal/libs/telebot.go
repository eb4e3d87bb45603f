package libs

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	tele "gopkg.in/telebot.v3"
)

var telebotLib = Lib{
	Name:   "telebot",
	Module: "gopkg.in/telebot.v3",
	Note: "README: NewBot(Settings{URL, Token, Poller: &LongPoller{Timeout}}), Handle(OnText, c.Send), Start; stop: Stop; " +
		"webhook: Poller: &Webhook{Listen, SecretToken, Endpoint}; download: Bot.File (a stream)",
	Run:      telebotRun,
	Upload:   telebotUpload,
	Download: telebotDownload,
}

func telebotNew(env Env) (*tele.Bot, error) {
	var poller tele.Poller = &tele.LongPoller{Timeout: env.PollTimeout}
	if wh := env.Webhook; wh != nil {
		addr := wh.Listener.Addr().String()
		wh.Listener.Close() // telebot listens by address itself
		poller = &tele.Webhook{Listen: addr, SecretToken: wh.Secret, Endpoint: &tele.WebhookEndpoint{PublicURL: wh.URL}}
	}
	// The default client (1 min timeout) with the shim.
	client := &http.Client{Timeout: time.Minute, Transport: withShim(nil)}
	return tele.NewBot(tele.Settings{URL: env.URL, Token: env.Token, Poller: poller, Client: client})
}

func telebotRun(ctx context.Context, env Env) error {
	b, err := telebotNew(env)
	if err != nil {
		return err
	}
	b.Handle(tele.OnText, func(c tele.Context) error {
		delay(ctx, env.HandlerDelay)
		err := c.Send(Reply)
		env.Handled(int64(c.Update().ID), err)
		return err
	})
	done := make(chan struct{})
	wait := stopAfter(ctx, done, b.Stop)
	b.Start() // returns once Stop returned
	close(done)
	wait()
	return nil
}

func telebotUpload(ctx context.Context, env Env, chatID int64, path string) (string, error) {
	env.Webhook = nil
	b, err := telebotNew(env)
	if err != nil {
		return "", err
	}
	return uploadFile(path, func(f *os.File) (string, error) {
		msg, err := b.Send(&tele.Chat{ID: chatID}, &tele.Document{File: tele.FromReader(f), FileName: filepath.Base(path)})
		if err != nil {
			return "", err
		}
		return msg.Document.FileID, nil
	})
}

func telebotDownload(ctx context.Context, env Env, fileID string, w io.Writer) (int64, error) {
	env.Webhook = nil
	b, err := telebotNew(env)
	if err != nil {
		return 0, err
	}
	rc, err := b.File(&tele.File{FileID: fileID})
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(w, rc)
}
