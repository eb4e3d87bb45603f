// Package limit keeps a bot within Telegram's flood limits and retries
// the Bot API calls that can safely be repeated.
//
// It owns the outbound middleware (Control, installed on a tg.Client with
// tg.WithMiddleware) and an in-process flood limiter (Local): token
// buckets for the bot (about 30 messages/s), each chat (1/s, bursts of 3)
// and each group (20/min), all configurable, and the pauses Telegram asks
// for with 429 retry_after. Calls to one chat are queued in order; a call
// waits for its turn and gives up at once when its context ends.
//
// Which calls are limited is decided by method (Counts): messages sent,
// forwarded, copied and edited; not getUpdates, answerCallbackQuery,
// getFile, getMe and the like. Which calls are repeated after an unclear
// outcome is decided by method too (Idempotent): only get* by default.
// The Control documentation has the full retry table.
//
// # What it never does
//
// limit starts no goroutine and keeps no state per idle chat: a chat's
// state exists while its buckets refill or it is paused, and is never
// dropped before, so a throttled chat cannot get a fresh burst early
// however many chats are active; Local documents the bound. It never
// retries a call that may have been performed unless the method is
// idempotent or WithRetryUnsure says so, never repeats an upload, and
// never sleeps past a call's context.
// It has no metrics dependency: Control.Stats returns counters to export.
//
// # Several processes
//
// Telegram's limits are per bot token. Bots that send from several
// processes plug a shared Limiter (two methods, Wait and Pause) into
// WithLimiter; per-chat order is kept within each process.
package limit
