package tidygram

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/tg"
)

// ErrRunning is returned by Run while another Run of the same Bot is active.
var ErrRunning = errors.New("tidygram: bot is already running")

// ErrUnauthorized ends Run when Telegram rejects the token (401): retrying
// cannot help.
var ErrUnauthorized = errors.New("tidygram: the bot token was rejected (401 Unauthorized)")

// ErrWebhookActive ends a polling Run when Telegram answers 409 because a
// webhook is set. tidygram never deletes a webhook on its own: call
// deleteWebhook (or run in webhook mode) deliberately.
var ErrWebhookActive = errors.New("tidygram: getUpdates refused: a webhook is set (409); delete it or run with a webhook")

// ErrOtherPoller ends a polling Run when Telegram answers 409 because another
// process polls with the same token; only one may.
var ErrOtherPoller = errors.New("tidygram: getUpdates refused: another instance polls with this token (409)")

// classifyPollError maps fatal getUpdates errors to the runtime's errors; it
// returns nil for errors worth retrying.
func classifyPollError(err error) error {
	var apiErr *tg.APIError
	if !errors.As(err, &apiErr) {
		return nil
	}
	switch apiErr.ErrorCode {
	case 401, 404: // 404: the token names no bot
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case 409:
		if strings.Contains(apiErr.Description, "webhook") {
			return fmt.Errorf("%w: %w", ErrWebhookActive, err)
		}
		return fmt.Errorf("%w: %w", ErrOtherPoller, err)
	}
	return nil
}

// PanicError is what the error handler receives when a handler panicked.
// The bot keeps running; the update counts as handled.
type PanicError struct {
	Route    string
	UpdateID int64
	Value    any
	Stack    []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("tidygram: handler %q panicked on update %d: %v", e.Route, e.UpdateID, e.Value)
}

// LeakError is returned by Run with WithStrictLeaks when goroutines owned by
// the bot survived it. Groups lists them by owner labels and stack.
type LeakError struct {
	Count  int
	Report string
}

func (e *LeakError) Error() string {
	return fmt.Sprintf("tidygram: %d goroutines outlived Run:\n%s", e.Count, e.Report)
}

// AbandonedError is what the error handler receives for a handler that was
// still running HandlerTimeout + AbandonGrace after it started (it ignores
// its context). Its update is confirmed as failed; the goroutine is left
// to end by itself. Report holds the update's goroutines at that moment
// (handler, chat, creation sites and where they are blocked).
type AbandonedError struct {
	Route    string
	UpdateID int64
	Ran      time.Duration // how long it had run when abandoned
	Timeout  time.Duration // the handler timeout it ignored
	Report   leak.Report
}

func (e *AbandonedError) Error() string {
	return fmt.Sprintf("tidygram: handler %q abandoned on update %d: still running %s after it started (timeout %s); %d goroutine(s) left behind:\n%s",
		e.Route, e.UpdateID, e.Ran.Round(time.Millisecond), e.Timeout, e.Report.Count, leak.Format(e.Report.Groups))
}

// ErrNotRunning is returned by Context.Go when the bot that ran the handler
// has stopped: no background work may start then.
var ErrNotRunning = router.ErrNotRunning
