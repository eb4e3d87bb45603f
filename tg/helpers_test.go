package tg_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/tg"
	"github.com/tidygram/tidygram/tgtest"
)

// emulated returns an emulator and a client of it, both closed at the end
// of the test.
func emulated(t *testing.T, opts ...tgtest.Option) (*tgtest.Server, *tg.Client, context.Context) {
	t.Helper()
	srv := tgtest.NewServer(append([]tgtest.Option{tgtest.WithTB(t)}, opts...)...)
	c, err := tg.NewClient(srv.Token(), tg.WithBaseURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return srv, c, ctx
}

// TestErrorSentinelsFromEmulator: the answers the emulator gives in
// Telegram's words match their sentinels, and no other.
func TestErrorSentinelsFromEmulator(t *testing.T) {
	srv, c, ctx := emulated(t)
	alice, bob, carol := srv.NewUser("alice"), srv.NewUser("bob"), srv.NewUser("carol")
	if err := carol.Block(); err != nil {
		t.Fatal(err)
	}
	g := srv.NewGroup("team")
	if err := g.SetBotStatus(alice, tgtest.StatusKicked); err != nil {
		t.Fatal(err)
	}
	sent, err := c.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(alice.ChatID()), Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := bob.Send("from bob")
	if err != nil {
		t.Fatal(err)
	}
	all := []error{tg.ErrBotBlocked, tg.ErrUserDeactivated, tg.ErrBotKicked, tg.ErrNotMember, tg.ErrCantInitiate,
		tg.ErrChatNotFound, tg.ErrUserNotFound, tg.ErrNotModified, tg.ErrMessageToEditNotFound, tg.ErrMessageToDeleteNotFound,
		tg.ErrReplyNotFound, tg.ErrMessageCantBeEdited, tg.ErrMessageCantBeDeleted, tg.ErrMessageEmpty, tg.ErrMessageTooLong,
		tg.ErrQueryTooOld, tg.ErrNoRights, tg.ErrWrongFileID, tg.ErrGroupMigrated, tg.ErrTooManyRequests}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"blocked", func() error {
			_, err := c.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(carol.ChatID()), Text: "x"})
			return err
		}, tg.ErrBotBlocked},
		{"chat not found", func() error {
			_, err := c.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(42), Text: "x"})
			return err
		}, tg.ErrChatNotFound},
		{"not a member", func() error {
			_, err := c.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(g.ID()), Text: "x"})
			return err
		}, tg.ErrNotMember},
		{"not modified", func() error {
			_, err := c.EditMessageText(ctx, &tg.EditMessageTextParams{ChatID: tg.ID(alice.ChatID()), MessageID: sent.MessageID, Text: "hi"})
			return err
		}, tg.ErrNotModified},
		{"edit not found", func() error {
			_, err := c.EditMessageText(ctx, &tg.EditMessageTextParams{ChatID: tg.ID(alice.ChatID()), MessageID: 9999, Text: "x"})
			return err
		}, tg.ErrMessageToEditNotFound},
		{"can't be edited", func() error {
			_, err := c.EditMessageText(ctx, &tg.EditMessageTextParams{ChatID: tg.ID(bob.ChatID()), MessageID: in.MessageID, Text: "x"})
			return err
		}, tg.ErrMessageCantBeEdited},
		{"delete not found", func() error {
			return c.DeleteMessage(ctx, &tg.DeleteMessageParams{ChatID: tg.ID(alice.ChatID()), MessageID: 9999})
		}, tg.ErrMessageToDeleteNotFound},
		{"reply not found", func() error {
			_, err := c.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(alice.ChatID()), Text: "x", ReplyParameters: &tg.ReplyParameters{MessageID: 9999}})
			return err
		}, tg.ErrReplyNotFound},
		{"empty text", func() error {
			_, err := c.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(alice.ChatID()), Text: " "})
			return err
		}, tg.ErrMessageEmpty},
		{"too long", func() error {
			_, err := c.SendMessage(ctx, &tg.SendMessageParams{ChatID: tg.ID(alice.ChatID()), Text: strings.Repeat("a", 4097)})
			return err
		}, tg.ErrMessageTooLong},
		{"query too old", func() error {
			return c.AnswerInline(ctx, "12345", []tg.InlineQueryResult{tg.InlineArticle("1", "t", "x")})
		}, tg.ErrQueryTooOld},
		{"wrong file id", func() error {
			_, err := c.SendDocument(ctx, &tg.SendDocumentParams{ChatID: tg.ID(alice.ChatID()), Document: tg.FileID("nope")})
			return err
		}, tg.ErrWrongFileID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var apiErr *tg.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("want an *APIError, got %v", err)
			}
			for _, s := range all {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%q, %v) = %v", apiErr.Description, s, got)
				}
			}
		})
	}
}

// TestErrorSentinelWording covers answers the emulator does not give, in
// the words Telegram uses.
func TestErrorSentinelWording(t *testing.T) {
	tests := []struct {
		err  *tg.APIError
		want error
		not  error
	}{
		{&tg.APIError{ErrorCode: 403, Description: "Forbidden: user is deactivated"}, tg.ErrUserDeactivated, tg.ErrBotBlocked},
		{&tg.APIError{ErrorCode: 403, Description: "Forbidden: bot was kicked from the supergroup chat"}, tg.ErrBotKicked, tg.ErrNotMember},
		{&tg.APIError{ErrorCode: 403, Description: "Forbidden: bot was kicked from the channel chat"}, tg.ErrBotKicked, tg.ErrChatNotFound},
		{&tg.APIError{ErrorCode: 403, Description: "Forbidden: bot can't initiate conversation with a user"}, tg.ErrCantInitiate, tg.ErrBotBlocked},
		{&tg.APIError{ErrorCode: 400, Description: "Bad Request: user not found"}, tg.ErrUserNotFound, tg.ErrChatNotFound},
		{&tg.APIError{ErrorCode: 400, Description: "Bad Request: message can't be deleted for everyone"}, tg.ErrMessageCantBeDeleted, tg.ErrMessageCantBeEdited},
		{&tg.APIError{ErrorCode: 400, Description: "Bad Request: not enough rights to send text messages to the chat"}, tg.ErrNoRights, tg.ErrNotMember},
		{&tg.APIError{ErrorCode: 400, Description: "Bad Request: CHAT_WRITE_FORBIDDEN"}, tg.ErrNoRights, tg.ErrChatNotFound},
		{&tg.APIError{ErrorCode: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat", MigrateToChatID: -100123}, tg.ErrGroupMigrated, tg.ErrChatNotFound},
		{&tg.APIError{ErrorCode: 429, Description: "Too Many Requests: retry after 5", RetryAfter: 5 * time.Second}, tg.ErrTooManyRequests, tg.ErrNoRights},
		{&tg.APIError{ErrorCode: 400, Description: "BAD REQUEST: MESSAGE IS NOT MODIFIED"}, tg.ErrNotModified, tg.ErrMessageTooLong},
		{&tg.APIError{ErrorCode: 400, Description: "Bad Request: message to reply not found"}, tg.ErrReplyNotFound, tg.ErrMessageToEditNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.err.Description, func(t *testing.T) {
			wrapped := errors.Join(errors.New("context"), tt.err)
			if !errors.Is(wrapped, tt.want) || errors.Is(wrapped, tt.not) {
				t.Fatalf("Is(want %v) = %v, Is(not %v) = %v", tt.want, errors.Is(wrapped, tt.want), tt.not, errors.Is(wrapped, tt.not))
			}
		})
	}
	if errors.Is(&tg.NetworkError{Method: "sendMessage", Err: errors.New("chat not found")}, tg.ErrChatNotFound) {
		t.Fatal("a network error matches an API sentinel")
	}
}

func TestAnswerInline(t *testing.T) {
	srv, c, ctx := emulated(t)
	alice := srv.NewUser("alice")
	many := make([]tg.InlineQueryResult, 51)
	for i := range many {
		many[i] = tg.InlineArticle(strconv.Itoa(i), "t", "x")
	}
	tests := []struct {
		name    string
		results []tg.InlineQueryResult
		next    string
		wantErr bool
		want    []string // the "type" of each result Telegram gets
	}{
		{"common kinds", []tg.InlineQueryResult{
			tg.InlineArticle("a", "Cats", "Cats are great"),
			tg.InlinePhoto("p", "https://example.com/c.jpg", "https://example.com/t.jpg"),
			tg.InlineCachedPhoto("cp", "AgAD"),
			tg.InlineGif("g", "https://example.com/c.gif", "https://example.com/t.jpg"),
			tg.InlineVideo("v", "Clip", "https://example.com/c.mp4", "video/mp4", "https://example.com/t.jpg"),
			tg.InlineAudio("au", "Song", "https://example.com/s.mp3"),
			tg.InlineDocument("d", "Manual", "https://example.com/m.pdf", "application/pdf"),
			tg.InlineCachedDocument("cd", "Manual", "BQAD"),
			tg.InlineCachedSticker("s", "CAAD"),
			tg.InlineLocation("l", "Here", 52.5, 13.4),
			tg.InlineVenue("ve", "Shop", "Main St 1", 52.5, 13.4),
			tg.InlineContact("co", "+100", "Ann"),
		}, "", false, []string{"article", "photo", "photo", "gif", "video", "audio", "document", "document", "sticker", "location", "venue", "contact"}},
		{"empty answer with next offset", nil, "20", false, []string{}},
		{"too many", many, "", true, nil},
		{"duplicate id", []tg.InlineQueryResult{tg.InlineArticle("1", "a", "a"), tg.InlineArticle("1", "b", "b")}, "", true, nil},
		{"empty id", []tg.InlineQueryResult{tg.InlineArticle("", "a", "a")}, "", true, nil},
		{"long id", []tg.InlineQueryResult{tg.InlineArticle(strings.Repeat("x", 65), "a", "a")}, "", true, nil},
		{"nil result", []tg.InlineQueryResult{nil}, "", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := alice.InlineQuery("cats")
			if err != nil {
				t.Fatal(err)
			}
			err = c.AnswerInline(ctx, id, tt.results, func(p *tg.AnswerInlineQueryParams) { p.NextOffset = tt.next; p.CacheTime = 5 })
			if tt.wantErr {
				if !errors.Is(err, tg.ErrInlineResults) {
					t.Fatalf("want ErrInlineResults, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ans, err := srv.WaitInlineAnswer(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var got []struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			}
			if err := json.Unmarshal(ans.Results, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) || ans.NextOffset != tt.next || ans.CacheTime != 5 {
				t.Fatalf("answer %s next %q", ans.Results, ans.NextOffset)
			}
			for i, r := range got {
				if r.Type != tt.want[i] {
					t.Errorf("result %d: type %q, want %q", i, r.Type, tt.want[i])
				}
			}
		})
	}
}

func TestInlinePage(t *testing.T) {
	all := make([]tg.InlineQueryResult, 45)
	for i := range all {
		all[i] = tg.InlineArticle(strconv.Itoa(i), "t", "x")
	}
	tests := []struct {
		offset     string
		size       int
		first, n   int
		wantNext   string
		resultsLen int
	}{
		{"", 20, 0, 20, "20", 45},
		{"20", 20, 20, 20, "40", 45},
		{"40", 20, 40, 5, "", 45},
		{"45", 20, 45, 0, "", 45},
		{"junk", 20, 0, 20, "20", 45},
		{"-3", 20, 0, 20, "20", 45},
		{"99", 20, 0, 20, "20", 45},
		{"", 0, 0, 45, "", 45},
		{"", 500, 0, 45, "", 45},
	}
	for _, tt := range tests {
		page, next := tg.InlinePage(all, tt.offset, tt.size)
		if len(page) != tt.n || next != tt.wantNext {
			t.Errorf("InlinePage(%q, %d): %d results, next %q; want %d, %q", tt.offset, tt.size, len(page), next, tt.n, tt.wantNext)
			continue
		}
		if tt.n > 0 && page[0].(*tg.InlineQueryResultArticle).ID != strconv.Itoa(tt.first) {
			t.Errorf("InlinePage(%q): first id %s", tt.offset, page[0].(*tg.InlineQueryResultArticle).ID)
		}
	}
}

func TestPreCheckoutAnswers(t *testing.T) {
	srv, c, ctx := emulated(t)
	alice := srv.NewUser("alice")
	tests := []struct {
		name    string
		answer  func(id string) error
		want    tgtest.PreCheckoutAnswer
		wantErr error
	}{
		{"accept", func(id string) error { return c.AcceptPreCheckout(ctx, id) }, tgtest.PreCheckoutAnswer{OK: true}, nil},
		{"decline", func(id string) error { return c.DeclinePreCheckout(ctx, id, "sold out") }, tgtest.PreCheckoutAnswer{ErrorMessage: "sold out"}, nil},
		{"decline without reason", func(id string) error { return c.DeclinePreCheckout(ctx, id, " ") }, tgtest.PreCheckoutAnswer{}, tg.ErrNoReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := alice.PreCheckout("USD", 999, "sku-1")
			if err != nil {
				t.Fatal(err)
			}
			err = tt.answer(id)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("want %v, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := srv.WaitPreCheckoutAnswer(ctx, id)
			if err != nil || got != tt.want {
				t.Fatalf("answer %+v %v, want %+v", got, err, tt.want)
			}
			if err := tt.answer(id); !errors.Is(err, tg.ErrQueryTooOld) {
				t.Fatalf("a second answer: %v, want ErrQueryTooOld", err)
			}
		})
	}
}
