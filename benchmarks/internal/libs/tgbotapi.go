package libs

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

var tgbotapiLib = Lib{
	Name:   "tgbotapi",
	Module: "github.com/go-telegram-bot-api/telegram-bot-api/v5",
	Note: "README loop: GetUpdatesChan + `for update := range updates { bot.Send(...) }` (one update at a time); " +
		"stop: StopReceivingUpdates, then the loop drains the channel; webhook: ListenForWebhook on http.DefaultServeMux " +
		"(v5.5.1 has no secret_token); download: GetFile + URL built from the configured endpoint (File.Link hard-codes api.telegram.org)",
	Run:      tgbotapiRun,
	Upload:   tgbotapiUpload,
	Download: tgbotapiDownload,
}

func tgbotapiNew(env Env) (*tgbotapi.BotAPI, error) {
	// NewBotAPIWithAPIEndpoint with the shim: the same &http.Client{} otherwise.
	return tgbotapi.NewBotAPIWithClient(env.Token, env.URL+"/bot%s/%s", &http.Client{Transport: withShim(nil)})
}

func tgbotapiHandle(ctx context.Context, env Env, bot *tgbotapi.BotAPI, update tgbotapi.Update) {
	if update.Message == nil {
		return
	}
	delay(ctx, env.HandlerDelay)
	_, err := bot.Send(tgbotapi.NewMessage(update.Message.Chat.ID, Reply))
	env.Handled(int64(update.UpdateID), err)
}

func tgbotapiRun(ctx context.Context, env Env) error {
	bot, err := tgbotapiNew(env)
	if err != nil {
		return err
	}
	if env.Webhook != nil {
		return tgbotapiWebhook(ctx, env, bot)
	}
	u := tgbotapi.NewUpdate(0)
	u.Timeout = int(env.PollTimeout / time.Second)
	updates := bot.GetUpdatesChan(u)
	done := make(chan struct{})
	wait := stopAfter(ctx, done, bot.StopReceivingUpdates)
	for update := range updates { // closed after the pending poll returns
		tgbotapiHandle(ctx, env, bot, update)
	}
	close(done)
	wait()
	return nil
}

func tgbotapiWebhook(ctx context.Context, env Env, bot *tgbotapi.BotAPI) error {
	wh, err := tgbotapi.NewWebhook(env.Webhook.URL)
	if err != nil {
		return err
	}
	if _, err := bot.Request(wh); err != nil {
		return err
	}
	updates := bot.ListenForWebhook(env.Webhook.Path)
	srv := &http.Server{} // README: http.ListenAndServe(addr, nil), i.e. DefaultServeMux
	served := make(chan struct{})
	go func() {
		defer close(served)
		serveUntil(ctx, srv, env.Webhook)
	}()
	for {
		select {
		case update := <-updates: // the channel is never closed
			tgbotapiHandle(ctx, env, bot, update)
		case <-ctx.Done():
			<-served
			return nil
		}
	}
}

func tgbotapiUpload(ctx context.Context, env Env, chatID int64, path string) (string, error) {
	bot, err := tgbotapiNew(env)
	if err != nil {
		return "", err
	}
	return uploadFile(path, func(f *os.File) (string, error) {
		msg, err := bot.Send(tgbotapi.NewDocument(chatID, tgbotapi.FileReader{Name: filepath.Base(path), Reader: f}))
		if err != nil {
			return "", err
		}
		return msg.Document.FileID, nil
	})
}

func tgbotapiDownload(ctx context.Context, env Env, fileID string, w io.Writer) (int64, error) {
	bot, err := tgbotapiNew(env)
	if err != nil {
		return 0, err
	}
	f, err := bot.GetFile(tgbotapi.FileConfig{FileID: fileID})
	if err != nil {
		return 0, err
	}
	return httpDownload(ctx, http.DefaultClient, env.URL+"/file/bot"+env.Token+"/"+f.FilePath, w)
}
