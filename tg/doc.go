// Package tg is tidygram's Telegram Bot API client: every type and method of
// Bot API 10.1, generated from botapi/api.json, and the Client that calls them.
//
// tg owns exactly one http.Client per Client and every response body it
// receives: each body is closed on every path and drained (bounded) so that
// its connection is reused. Uploads stream through an io.Pipe in constant
// memory; downloads stream to an io.Writer with a size cap. The bot token
// never appears in an error, log line or panic.
//
// tg never starts a goroutine that outlives the call that started it,
// retries on its own only a request the server provably never read (a
// keep-alive connection closed under it, see Client.Call and
// NetworkError.NotSent; retry and flood control are middleware, see
// package limit) and never holds an answer's body whole: answers are decoded as they stream in,
// bounded in bytes (WithMaxResponseBytes), per JSON value (MaxValueBytes) and,
// for getUpdates, in count (its limit).
package tg

//go:generate go run ../internal/gen -spec ../botapi/api.json -out .
