package tg

import "context"

// Invoker performs one Bot API call: it encodes params (nil for none), sends
// them as method, and decodes the result into result (nil to discard it).
// It returns an *APIError when Telegram answered ok=false, and a
// *NetworkError when no valid answer was received.
type Invoker func(ctx context.Context, method string, params, result any) error

// Middleware wraps an Invoker. It sees the method name and the params before
// the call, and the decoded result or the error after it. Flood control,
// retry and metrics are middleware; so can be a user's logging or tracing.
type Middleware func(next Invoker) Invoker

// ChatTargeter is implemented by every generated params type that has a
// chat_id field. Middleware uses it to key per-chat state (flood limits).
type ChatTargeter interface {
	TargetChat() ChatID
}

// uploadCarrier is implemented by generated params and types that can carry
// an InputFile. appendUploads appends every InputFile in the value that must
// be uploaded (IsUpload reports true) to dst and returns it.
type uploadCarrier interface {
	appendUploads(dst []*InputFile) []*InputFile
}
