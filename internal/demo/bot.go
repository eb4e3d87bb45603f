// Package demo is the bot and the workload of `tidygram demo` and
// `tidygram soak --in-process`: a demo bot using every part of tidygram a
// newcomer meets first (commands, echo, an inline keyboard with callbacks,
// file download and upload, a session-backed counter, the flood limiter),
// simulated users of the emulator who use it and check every reply, fault
// phases, live progress and the final report.
//
// demo owns the goroutines of the users it starts and of its progress
// printer: Load.Run and Run return only after all of them ended. It never
// talks to a network other than 127.0.0.1 and never needs a real token.
package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/session"
	"github.com/tidygram/tidygram/tg"
)

// MaxFileSize bounds the documents the demo bot downloads (2 MiB); larger
// ones are refused with a message, nothing is downloaded.
const MaxFileSize = 2 << 20

// HelpText is the answer to /help.
const HelpText = "I am the tidygram demo bot.\n" +
	"/start greets you\n/help shows this\n/count counts your /count calls (kept in a session)\n" +
	"/vote shows a poll with buttons\nSend me a document: I download it and tell you its size and SHA-256, and send you a report file.\n" +
	"Any other text is echoed."

// StartText is the answer to /start from a user named name.
func StartText(name string) string { return "Hello, " + name + "! Send /help to see what I can do." }

// EchoText is the answer to the text s.
func EchoText(s string) string { return "echo: " + s }

// CountText is the answer to the n-th /count of a user in a chat.
func CountText(n int) string { return fmt.Sprintf("count: %d", n) }

// VoteText is the text of the poll message after up and down votes.
func VoteText(up, down int) string { return fmt.Sprintf("Vote: %d up, %d down", up, down) }

// VotedText is the callback answer to a vote for choice ("up" or "down").
func VotedText(choice string) string { return "You voted " + choice }

// FileText is the answer to a document: its name, size and SHA-256.
func FileText(name string, size int64, sum string) string {
	return fmt.Sprintf("got %s: %d bytes, sha256 %s", name, size, sum)
}

// ReportName is the file name of the report the bot sends back.
const ReportName = "report.txt"

// ReportFile is the content of the report the bot sends back for a document.
func ReportFile(name string, size int64, sum string) []byte {
	return []byte(fmt.Sprintf("tidygram demo report\nfile: %s\nsize: %d\nsha256: %s\n", name, size, sum))
}

// Vote buttons' callback data.
const (
	VoteUp   = "vote:up"
	VoteDown = "vote:down"
)

// state is a user's session in a chat: the /count counter, the tally of
// the user's current poll, and the update that last changed them.
type state struct {
	Count int `json:"count"`
	Up    int `json:"up,omitempty"`
	Down  int `json:"down,omitempty"`
	// Last is the update_id of the update that last changed the state. A
	// spool delivers an update again when the instance that had it died
	// before it was done; when that update's change was already committed
	// (Last equals its id), the handler answers as the first time without
	// changing the state twice.
	Last int64 `json:"last,omitempty"`
}

// applied reports whether c's update already changed st: it was
// redelivered and its change committed before its first handling ended.
func applied(c *tidygram.Context, st *state) bool {
	return c.Redelivered && st.Last == c.Update.UpdateID
}

// voteKeyboard is the poll's keyboard, sent with the poll and kept by every
// edit of it.
var voteKeyboard = router.InlineKeyboard(
	router.Row(router.CallbackButton("👍 up", VoteUp), router.CallbackButton("👎 down", VoteDown)),
)

// NewBot returns the demo bot for token. opts come after the demo's own
// (a flood limiter with Telegram's per-chat rule, a bounded in-memory
// session store with its janitor), so they can add hooks, services and the
// base URL or override anything.
//
// The bot's bot-wide flood rule is raised to 1000 messages/s (Telegram's
// paid-broadcast ceiling) so that hundreds of simulated users are not
// queued behind the 30/s free rule; the per-chat rule (1/s, bursts of 3)
// and 429 retry_after handling are Telegram's.
func NewBot(token string, opts ...tidygram.Option) (*tidygram.Bot, error) {
	store := session.NewMemory(session.WithMaxEntries(100_000))
	lim, err := limit.NewLocal(limit.WithGlobal(GlobalRule()))
	if err != nil {
		return nil, err
	}
	flood, err := FloodControl(lim)
	if err != nil {
		return nil, err
	}
	base := []tidygram.Option{
		tidygram.WithFloodControl(flood),
		tidygram.WithJanitor(store, time.Minute),
	}
	bot, err := tidygram.New(token, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	register(bot, session.New[state](store))
	return bot, nil
}

// GlobalRule is the demo bot's bot-wide flood rule: 1000 messages/s
// (Telegram's paid-broadcast ceiling), bursts of 50.
func GlobalRule() limit.Rule { return limit.Per(1000, time.Second, 50) }

// FloodControl is the demo bot's flood control on lim: Telegram's
// retry_after honoured, short backoffs after network errors.
func FloodControl(lim limit.Limiter) (*limit.Control, error) {
	return limit.New(limit.WithLimiter(lim), limit.WithBackoff(50*time.Millisecond, time.Second))
}

// NewSharedBot returns the demo bot for one of several instances: its
// sessions are in store, which every instance shares (a session.Store
// that checks versions, such as the jetstream module's SessionStore), and
// opts must give the shared spool and flood control (tidygram.WithSpool,
// tidygram.WithFloodControl). Its handlers change a session at most once
// per update, also when the spool delivers an update again.
func NewSharedBot(token string, store session.Store, opts ...tidygram.Option) (*tidygram.Bot, error) {
	bot, err := tidygram.New(token, opts...)
	if err != nil {
		return nil, err
	}
	register(bot, session.New[state](store))
	return bot, nil
}

// register adds the demo's routes to r with sessions kept by sess.
func register(r *tidygram.Bot, sess *session.Session[state]) {
	r.Use(tidygram.Sessions(sess))
	r.OnCommand("start", func(c *tidygram.Context) error {
		name := "there"
		if u := c.Sender(); u != nil {
			name = u.FirstName
		}
		return c.Reply(StartText(name))
	})
	// Every answer quotes the message it answers, so that a user can
	// tell a repeated answer to an earlier message from the answer to
	// the latest one.
	r.OnCommand("help", func(c *tidygram.Context) error {
		return c.Reply(HelpText)
	})
	r.OnCommand("count", func(c *tidygram.Context) error {
		st, ok := session.From[state](c)
		if !ok {
			return fmt.Errorf("demo: /count without a session")
		}
		if !applied(c, st) {
			st.Count++
			st.Last = c.Update.UpdateID
		}
		return c.Reply(CountText(st.Count))
	})
	r.OnCommand("vote", func(c *tidygram.Context) error {
		if st, ok := session.From[state](c); ok && !applied(c, st) {
			st.Up, st.Down = 0, 0
			st.Last = c.Update.UpdateID
		}
		return c.Reply(VoteText(0, 0), router.WithMarkup(voteKeyboard))
	})
	r.OnCallbackPrefix("vote:", func(c *tidygram.Context) error {
		st, ok := session.From[state](c)
		if !ok {
			return fmt.Errorf("demo: vote without a session")
		}
		choice := strings.TrimPrefix(c.CallbackData(), "vote:")
		again := applied(c, st)
		switch {
		case choice != "up" && choice != "down":
			return c.Answer("unknown choice")
		case again:
		case choice == "up":
			st.Up++
		default:
			st.Down++
		}
		st.Last = c.Update.UpdateID
		// Edit first, answer second: once the user sees the answer, the
		// message shows the new tally. Delivered again, the edit may
		// change nothing and the query may be answered already: both are
		// done, not failures.
		if err := c.Edit(VoteText(st.Up, st.Down), router.WithMarkup(voteKeyboard)); err != nil && !(c.Redelivered && errors.Is(err, tg.ErrNotModified)) {
			return err
		}
		if err := c.Answer(VotedText(choice)); err != nil && !(c.Redelivered && errors.Is(err, tg.ErrQueryTooOld)) {
			return err
		}
		return nil
	})
	r.On(func(u *tg.Update) bool { return u.Message != nil && u.Message.Document != nil }, document)
	r.OnText(func(c *tidygram.Context) error {
		return c.Reply(EchoText(c.Text()))
	})
}

// document downloads the document through getFile and the file endpoint,
// hashing it as it streams (constant memory), answers with its size and
// SHA-256, and uploads a generated report.
func document(c *tidygram.Context) error {
	doc := c.Update.Message.Document
	if doc.FileSize > MaxFileSize {
		return c.Reply(fmt.Sprintf("%s is too large: at most %d bytes", doc.FileName, MaxFileSize))
	}
	f, err := c.Client.GetFile(c, &tg.GetFileParams{FileID: doc.FileID})
	if err != nil {
		return fmt.Errorf("demo: getFile: %w", err)
	}
	h := sha256.New()
	n, err := c.Client.Download(c, f.FilePath, h)
	if err != nil {
		return fmt.Errorf("demo: download: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := c.Reply(FileText(doc.FileName, n, sum)); err != nil {
		return err
	}
	report := strings.NewReader(string(ReportFile(doc.FileName, n, sum)))
	_, err = c.Client.SendDocument(c, &tg.SendDocumentParams{
		ChatID:          tg.ID(c.Chat().ID),
		Document:        tg.FileReader(ReportName, io.Reader(report)),
		ReplyParameters: &tg.ReplyParameters{MessageID: c.Update.Message.MessageID},
	})
	return err
}
