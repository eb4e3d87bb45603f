package tg

import (
	"context"
	"errors"
	"strings"
)

// ErrNoReason is returned by DeclinePreCheckout without a reason: Telegram
// shows the reason to the user and requires one.
var ErrNoReason = errors.New("tg: declining a pre-checkout query needs a reason for the user")

// AcceptPreCheckout confirms the pre-checkout query queryID: the goods are
// available and the payment may proceed. Telegram expects the answer
// within 10 seconds of the query, or the payment is cancelled.
func (c *Client) AcceptPreCheckout(ctx context.Context, queryID string) error {
	return c.Call(ctx, "answerPreCheckoutQuery", &AnswerPreCheckoutQueryParams{PreCheckoutQueryID: queryID, Ok: true}, nil)
}

// DeclinePreCheckout refuses the pre-checkout query queryID with reason,
// which Telegram shows to the user (e.g. "Sorry, the last one was just
// sold"). An empty reason is refused with ErrNoReason before any call.
func (c *Client) DeclinePreCheckout(ctx context.Context, queryID, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return ErrNoReason
	}
	return c.Call(ctx, "answerPreCheckoutQuery", &AnswerPreCheckoutQueryParams{PreCheckoutQueryID: queryID, ErrorMessage: reason}, nil)
}
