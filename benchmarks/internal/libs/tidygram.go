package libs

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/ops"
	"github.com/tidygram/tidygram/tg"
)

var tidygramLib = Lib{
	Name:   "tidygram",
	Module: "github.com/tidygram/tidygram",
	Note: "tidygram.New + OnText + Run(ctx), defaults (16 workers, per-chat lanes, at-least-once) except WithoutFloodControl " +
		"(its default limiter holds a bot to Telegram's 30 messages/s; neither the fake Bot API nor the emulator enforces one, and no peer has one); " +
		"webhook through WebhookConfig{Addr, Listener, URL, Secret} (answers after the handler); files through tg.FilePath and Client.Download",
	Run:      func(ctx context.Context, env Env) error { return tidygramRun(ctx, env) },
	Upload:   tidygramUpload,
	Download: tidygramDownload,
}

func tidygramLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// tidygramBare is tidygram without the per-update leak check, and
// tidygramMetrics with Prometheus metrics on: together they show what the
// leak check and metrics cost (labels are always on).
var (
	tidygramBare = Lib{
		Name: "tidygram/bare", Module: tidygramLib.Module,
		Note:   "tidygram as above with WithoutLeakCheck()",
		Run:    func(ctx context.Context, env Env) error { return tidygramRun(ctx, env, tidygram.WithoutLeakCheck()) },
		Upload: tidygramUpload, Download: tidygramDownload,
	}
	tidygramMetrics = Lib{
		Name: "tidygram/metrics", Module: tidygramLib.Module,
		Note: "tidygram as above with Prometheus metrics (WithObserver(ops.NewMetrics()))",
		Run: func(ctx context.Context, env Env) error {
			return tidygramRun(ctx, env, tidygram.WithObserver(ops.NewMetrics()))
		},
		Upload: tidygramUpload, Download: tidygramDownload,
	}
)

func tidygramRun(ctx context.Context, env Env, extra ...tidygram.Option) error {
	opts := []tidygram.Option{
		tidygram.WithBaseURL(env.URL),
		tidygram.WithLogger(tidygramLogger()),
		tidygram.WithoutFloodControl(), // the emulator and the peers have none
	}
	if wh := env.Webhook; wh != nil {
		opts = append(opts, tidygram.WithWebhook(tidygram.WebhookConfig{
			Secret:   wh.Secret,
			Addr:     wh.Listener.Addr().String(),
			Listener: wh.Listener,
			Path:     wh.Path,
			URL:      wh.URL,
		}))
	} else {
		opts = append(opts, tidygram.WithPollTimeout(env.PollTimeout)) // polling only: New refuses it with a webhook
	}
	bot, err := tidygram.New(env.Token, append(opts, extra...)...)
	if err != nil {
		return err
	}
	bot.OnText(func(c *tidygram.Context) error {
		delay(c, env.HandlerDelay)
		err := c.Send(Reply)
		env.Handled(c.Update.UpdateID, err)
		return err
	})
	return bot.Run(ctx)
}

func tidygramClient(env Env) (*tg.Client, error) {
	return tg.NewClient(env.Token, tg.WithBaseURL(env.URL), tg.WithMaxDownloadBytes(4<<30))
}

func tidygramUpload(ctx context.Context, env Env, chatID int64, path string) (string, error) {
	c, err := tidygramClient(env)
	if err != nil {
		return "", err
	}
	defer c.Close()
	msg, err := c.SendDocument(ctx, &tg.SendDocumentParams{ChatID: tg.ID(chatID), Document: tg.FilePath(path)})
	if err != nil {
		return "", err
	}
	return msg.Document.FileID, nil
}

func tidygramDownload(ctx context.Context, env Env, fileID string, w io.Writer) (int64, error) {
	c, err := tidygramClient(env)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	f, err := c.GetFile(ctx, &tg.GetFileParams{FileID: fileID})
	if err != nil {
		return 0, err
	}
	return c.Download(ctx, f.FilePath, w)
}
