// Package tgtest is a Telegram Bot API emulator: a real HTTP server on
// 127.0.0.1 that behaves like api.telegram.org for one bot, drives
// simulated users, and misbehaves on demand. Every test, benchmark and soak
// run of tidygram talks to it, and so can a user's tests and bots written
// in any language (see the `tidygram emulator` command).
//
//	srv := tgtest.NewServer(tgtest.WithTB(t)) // Close registered with t.Cleanup
//	bot := tg.New(srv.Token(), tg.WithBaseURL(srv.URL()))
//	alice := srv.NewUser("alice")
//	alice.Command("start", "")
//	reply, err := alice.WaitReply(ctx)
//
// # What it owns
//
// A Server owns its listener, every connection and goroutine it starts
// (long polls, webhook deliveries, hung requests) and a temporary
// directory holding uploaded files. Close releases every long poll and
// hung request, stops webhook deliveries, closes every connection, waits
// for all of it and removes the directory: after Close no goroutine of the
// server remains.
//
// # Telegram semantics
//
// Methods are served at /bot<token>/<method> (case-insensitive names), with
// parameters in the URL query or a JSON, form-urlencoded or multipart body
// (an empty body of any type, of known length or chunked, holds no
// parameters); in form and multipart bodies a value that is JSON text (reply_markup,
// chat_id, media) is read as JSON. Uploads are multipart parts referenced
// as "attach://<part>" or named after the parameter itself; they are
// streamed to disk and capped (WithUploadLimit, 50 MB like Telegram: a
// larger one is answered 413 without reading the rest). Files are
// downloaded from /file/bot<token>/<file_path>; a file_id can be sent
// again. Implemented methods: see Methods. Errors have Telegram's shape
// ({"ok":false,"error_code":400,"description":"Bad Request: chat not
// found"}) and wording: 401 for a wrong token, 404 for an unknown method,
// 409 for the two getUpdates conflicts, 429 with parameters.retry_after.
//
// getUpdates follows the documented offset rules: a call with an offset
// confirms every update below it, unconfirmed updates are returned again,
// a negative offset keeps only the last -offset updates, limit is clamped
// to 1–100 (default 100) and timeout to 0–50 s; a long poll returns as soon
// as an update arrives. allowed_updates is sticky and filters updates
// created afterwards; an empty list means all but chat_member,
// message_reaction and message_reaction_count. update_ids increase by one.
// A second concurrent getUpdates makes the first one answer 409
// "terminated by other getUpdates request".
//
// With a webhook set, updates are POSTed as JSON with the
// X-Telegram-Bot-Api-Secret-Token header, at most max_connections
// (default 40) at once and one at a time per chat; a non-2xx answer or a
// timeout (WithWebhookTimeout) redelivers the update after a backoff
// (WithWebhookRetry). A webhook answer carrying a method call
// ({"method":"sendMessage",…}) is performed. getUpdates answers 409 while a
// webhook is set.
//
// Flood control (off by default; WithFlood, Server.SetFlood or the control
// API) answers sends with 429 beyond about 30 messages/s per bot, 1/s per
// chat with a burst of 3, and 20/min per group (FloodLimits).
//
// WithLocalMode makes it a local Bot API server (--local): getFile
// answers absolute paths on this machine, uploads go up to 2000 MB and may
// name a local file (absolute path or file:// URI).
//
// The emulator does not render parse_mode (text is stored as sent),
// does not model channels, forum topics, invoices and payments (only the
// pre-checkout query), stickers or inline message editing, and serves one
// bot per server.
//
// # Simulated users and inspection
//
// NewUser and NewGroup create users and groups cheaply (thousands are
// fine). A SimUser sends text, commands, photos and documents, presses
// inline buttons (a callback_query carrying the button's callback_data),
// types inline queries, joins and leaves groups, and blocks the bot; each
// action enqueues the update Telegram would send. More: SendAlbum and
// AddToAlbum (media groups, one update per part), ConnectBusiness and
// SimBusiness.Send (business_connection and business_message updates; the
// bot's sends with business_connection_id land in the business chat, see
// SimBusiness.WaitMessages), SimGroup.SetStatus and SetBotStatus
// (chat_member and my_chat_member transitions), WebAppInitData and
// LoginWidgetData (signed with the server's token as Telegram signs them),
// SendWebAppData, and PreCheckout (answered with answerPreCheckoutQuery,
// see Server.WaitPreCheckoutAnswer). SimUser.WaitReply and
// Server.WaitMessages wait, with a context deadline, for what the bot
// sends; Messages and History inspect a chat; FileContent reads a file.
// Push and PushRaw enqueue any Update, e.g. one captured from Telegram.
//
// # Faults
//
// SetFaultRate injects a Fault into a share of a method's calls, drawn from
// a generator seeded by WithSeed (reproducible); ScriptFaults injects a
// list into the next calls. Kinds: 500, 502 (a proxy's HTML page), 429
// with retry_after, hang (held until the client gives up, a duration
// passes or Close), cut (connection closed mid-body), trickle (a slow
// body), malformed JSON and a huge body. Counters counts what was
// injected. WithIdleTimeout closes keep-alive connections idle for a given
// time, as real servers do (5 s is common); Counters.IdleConnsClosed counts
// those closes.
//
// # Bounds
//
// Pending updates are capped (WithMaxPending; enqueueing more fails with
// ErrQueueFull), each chat's history is capped (WithHistoryLimit; the
// oldest messages are dropped and counted), JSON and form bodies are
// capped at 10 MiB, uploads are on disk, and remembered query answers are
// capped at 10,000.
//
// # Speed
//
// The emulator is built not to be the bottleneck of a benchmark: updates
// are encoded once when enqueued, getUpdates concatenates them, and the
// hot methods decode their parameters in one pass. Measure on a machine
// with
//
//	go test -run '^$' -bench . -benchtime 2s ./tgtest
//
// (updates/s delivered through getUpdates and to a webhook, sendMessage
// calls/s answered to a keep-alive client, updates/s enqueued).
//
// # Control API
//
// The same features are reachable over HTTP under /_tgtest/ (a path no Bot
// API method uses), JSON in and out, answers shaped {"ok":true,"result":…}
// or {"ok":false,"error":"…"}:
//
//	GET    /_tgtest/                              this list
//	POST   /_tgtest/users                         {"name":"alice"} → User (id = private chat id)
//	POST   /_tgtest/groups                        {"title":"team"} → Chat
//	POST   /_tgtest/users/{id}/send               {"text":"hi","chat_id":<group or 0>} → Message
//	POST   /_tgtest/users/{id}/command            {"command":"start","args":"x","chat_id":0} → Message
//	POST   /_tgtest/users/{id}/photo              {"file":"<base64>","caption":"…"} → Message
//	POST   /_tgtest/users/{id}/document           {"name":"a.txt","file":"<base64>"} → Message
//	POST   /_tgtest/users/{id}/press              {"chat_id":…,"message_id":…,"data":"vote:1"} → {"callback_query_id":…}
//	POST   /_tgtest/users/{id}/inline             {"query":"cats"} → {"inline_query_id":…}
//	POST   /_tgtest/users/{id}/join|leave         {"chat_id":<group>} → true
//	POST   /_tgtest/users/{id}/block|unblock      → true
//	POST   /_tgtest/users/{id}/album              {"chat_id":0,"items":[{"photo":"<base64>"},{"name":"a.txt","file":"<base64>"}]} → []Message
//	POST   /_tgtest/users/{id}/webapp|login       {"extra":{"start_param":"x"}} → {"init_data":…} | Login Widget fields
//	POST   /_tgtest/users/{id}/webapp_data        {"button_text":"Order","data":"…"} → Message
//	POST   /_tgtest/users/{id}/precheckout        {"currency":"EUR","total":1250,"payload":"p"} → {"pre_checkout_query_id":…}
//	POST   /_tgtest/users/{id}/business           → {"business_connection_id":…}
//	POST   /_tgtest/business/{id}/send            {"user_id":…,"text":"hi"} → Message
//	GET    /_tgtest/business/{id}/messages?user_id=…[&n=N&timeout=5s]  the bot's messages on the account's behalf
//	POST   /_tgtest/groups/{id}/status            {"by":…,"user_id":…,"status":"administrator"} → true (user_id 0: the bot)
//	GET    /_tgtest/precheckout/{id}?timeout=5s   the bot's PreCheckoutAnswer (waits)
//	POST   /_tgtest/updates                       raw Update JSON → {"update_id":N}
//	GET    /_tgtest/chats/{id}/messages[?n=N&timeout=5s]  bot's messages (n: wait for the first n)
//	GET    /_tgtest/chats/{id}/history            users' and bot's messages
//	GET    /_tgtest/callbacks/{id}?timeout=5s     the bot's CallbackAnswer (waits)
//	GET    /_tgtest/inline/{id}?timeout=5s        the bot's InlineAnswer (waits)
//	GET    /_tgtest/commands                      the bot's default command menu
//	GET    /_tgtest/counters                      Counters
//	PUT    /_tgtest/flood                         {"enabled":true,"limits":{"per_second":30,…}} → true
//	POST   /_tgtest/faults                        {"method":"sendMessage","probability":0.1,"fault":{"kind":"502"}}
//	                                              or {"method":"getUpdates","script":[{"kind":"hang","duration":"2s"}]} → true
//	DELETE /_tgtest/faults                        → true
//	POST   /_tgtest/reset                         → true
//
// # Why its own types
//
// tgtest defines the few Bot API objects it needs (User, Chat, Message,
// Update, …) itself and never imports package tg: it is the reference the
// client is tested against, so a mistake in tg's generated types must show
// up as a failing test instead of being mirrored on both sides of the wire.
package tgtest
