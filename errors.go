package tidygram

import (
	"errors"
	"fmt"

	"github.com/tidygram/tidygram/internal/executor"
	"github.com/tidygram/tidygram/internal/poller"
	"github.com/tidygram/tidygram/router"
)

// ErrRunning is returned by Run while another Run of the same Bot is active.
var ErrRunning = errors.New("tidygram: bot is already running")

// ErrStopped is returned by a second Run of a Bot: a Bot runs once (its
// client is closed when Run returns); make a new one to run again.
var ErrStopped = errors.New("tidygram: the bot has run and stopped; create a new Bot to run again")

// ErrUnauthorized ends Run when Telegram rejects the token (401): retrying
// cannot help.
var ErrUnauthorized = poller.ErrUnauthorized

// ErrWebhookActive ends a polling Run when Telegram answers 409 because a
// webhook is set. tidygram never deletes a webhook on its own: call
// deleteWebhook (or run in webhook mode) deliberately.
var ErrWebhookActive = poller.ErrWebhookActive

// ErrOtherPoller ends a polling Run when Telegram answers 409 because another
// process polls with the same token; only one may.
var ErrOtherPoller = poller.ErrOtherPoller

// PanicError is what the error handler receives when a handler panicked
// (Route, UpdateID, Value, Stack). The bot keeps running; the update
// counts as handled.
type PanicError = executor.PanicError

// AbandonedError is what the error handler receives for a handler that was
// still running HandlerTimeout + AbandonGrace after it started (it ignores
// its context): Route, UpdateID, Ran, Timeout, and Report with the
// update's goroutines at that moment (handler, chat, creation sites and
// where they are blocked). Its update is confirmed as failed; the
// goroutine is left to end by itself.
type AbandonedError = executor.AbandonedError

// LeakError is returned by Run with WithStrictLeaks when goroutines owned by
// the bot survived it. Groups lists them by owner labels and stack.
type LeakError struct {
	Count  int
	Report string
}

func (e *LeakError) Error() string {
	return fmt.Sprintf("tidygram: %d goroutines outlived Run:\n%s", e.Count, e.Report)
}

// ErrNotRunning is returned by Context.Go when the bot that ran the handler
// has stopped: no background work may start then.
var ErrNotRunning = router.ErrNotRunning
