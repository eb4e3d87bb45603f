package libs

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

var gotgbLib = Lib{
	Name:   "go-telegram",
	Module: "github.com/go-telegram/bot",
	Note: "README: bot.New(token, WithDefaultHandler, WithServerURL) + Start(ctx); poll timeout set through " +
		"WithHTTPClient(timeout+1s, &http.Client{Timeout: timeout+1s}) (the default client with a shorter timeout); " +
		"webhook: SetWebhook, StartWebhook(ctx), http.Server{Handler: WebhookHandler()}; download: GetFile + FileDownloadLink + net/http",
	Run:      gotgbRun,
	Upload:   gotgbUpload,
	Download: gotgbDownload,
}

func gotgbNew(env Env, opts ...bot.Option) (*bot.Bot, error) {
	t := env.PollTimeout + 1e9
	opts = append(opts, bot.WithServerURL(env.URL), bot.WithHTTPClient(t, &http.Client{Timeout: t, Transport: withShim(nil)}))
	return bot.New(env.Token, opts...)
}

func gotgbRun(ctx context.Context, env Env) error {
	handler := func(ctx context.Context, b *bot.Bot, update *models.Update) {
		if update.Message == nil {
			return
		}
		delay(ctx, env.HandlerDelay)
		_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: update.Message.Chat.ID, Text: Reply})
		env.Handled(update.ID, err)
	}
	opts := []bot.Option{bot.WithDefaultHandler(handler)}
	wh := env.Webhook
	if wh != nil {
		opts = append(opts, bot.WithWebhookSecretToken(wh.Secret))
	}
	b, err := gotgbNew(env, opts...)
	if err != nil {
		return err
	}
	if wh == nil {
		b.Start(ctx)
		return nil
	}
	if _, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: wh.URL, SecretToken: wh.Secret}); err != nil {
		return err
	}
	started := make(chan struct{})
	go func() {
		defer close(started)
		b.StartWebhook(ctx)
	}()
	err = serveUntil(ctx, &http.Server{Handler: b.WebhookHandler()}, wh)
	<-started
	return err
}

func gotgbUpload(ctx context.Context, env Env, chatID int64, path string) (string, error) {
	b, err := gotgbNew(env)
	if err != nil {
		return "", err
	}
	return uploadFile(path, func(f *os.File) (string, error) {
		msg, err := b.SendDocument(ctx, &bot.SendDocumentParams{ChatID: chatID, Document: &models.InputFileUpload{Filename: filepath.Base(path), Data: f}})
		if err != nil {
			return "", err
		}
		return msg.Document.FileID, nil
	})
}

func gotgbDownload(ctx context.Context, env Env, fileID string, w io.Writer) (int64, error) {
	b, err := gotgbNew(env)
	if err != nil {
		return 0, err
	}
	f, err := b.GetFile(ctx, &bot.GetFileParams{FileID: fileID})
	if err != nil {
		return 0, err
	}
	return httpDownload(ctx, http.DefaultClient, b.FileDownloadLink(f), w)
}
