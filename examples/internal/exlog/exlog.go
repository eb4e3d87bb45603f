// Package exlog logs the life of an example bot with log/slog, one line
// each: starting, connected (with the bot's username, once getMe
// answered) and stopped, so that whoever runs an example sees that it
// runs, as whom, and that it ended.
//
// It owns no goroutine and keeps no state beyond one bot's Life; it never
// changes what the bot does. It uses only tidygram's public API: the
// "connected" line is an observe.Observer's Start, which Run calls after
// getMe answered.
package exlog

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/observe"
)

// Life logs one example bot's life. Create it with Starting, pass
// Option() to the bot's constructor, and run the bot with Run.
type Life struct {
	observe.Nop
	name  string
	log   *slog.Logger
	bot   atomic.Pointer[tidygram.Bot]
	start time.Time
}

// Starting logs "<name>: starting" with the process id (what to kill)
// to slog.Default() and returns the Life that logs the rest.
func Starting(name string) *Life { return starting(name, slog.Default()) }

func starting(name string, log *slog.Logger) *Life {
	log.Info(name+": starting", "pid", os.Getpid())
	return &Life{name: name, log: log, start: time.Now()}
}

// Option registers l as an observer of the bot: it logs "connected" when
// Run has started.
func (l *Life) Option() tidygram.Option { return tidygram.WithObserver(l) }

// Start implements observe.Observer: Run calls it once getMe answered.
// The username is known when the bot was started by l.Run.
func (l *Life) Start(observe.State) {
	if bot := l.bot.Load(); bot != nil && bot.Me() != nil {
		l.log.Info(l.name+": connected", "username", "@"+bot.Me().Username)
		return
	}
	l.log.Info(l.name + ": connected")
}

// Run runs bot until ctx ends and returns what bot.Run returned; after a
// clean stop it logs "<name>: stopped" (a failure is the caller's to
// report, once).
func (l *Life) Run(ctx context.Context, bot *tidygram.Bot) error {
	l.bot.Store(bot)
	err := bot.Run(ctx)
	if err == nil {
		l.log.Info(l.name+": stopped", "ran", time.Since(l.start).Round(time.Millisecond))
	}
	return err
}
