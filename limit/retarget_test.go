package limit

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tidygram/tidygram/tg"
)

type customParams struct{ to tg.ChatID }

func (p customParams) RetargetChat(to tg.ChatID) any { return customParams{to: to} }

type valueParams struct {
	ChatID tg.ChatID
	Text   string
}

type wrongType struct{ ChatID int64 }

// hidden has a chat id Retarget cannot set: the field is unexported and
// never read, only looked at by reflection.
//
//lint:ignore U1000 the field exists for Retarget to refuse it
type hidden struct{ chatID tg.ChatID }

func TestRetarget(t *testing.T) {
	to := tg.ID(-100500)
	tests := []struct {
		name   string
		params any
		ok     bool
		check  func(t *testing.T, got any)
	}{
		{"generated params pointer", &tg.SendMessageParams{ChatID: tg.ID(-1), Text: "x"}, true, func(t *testing.T, got any) {
			p := got.(*tg.SendMessageParams)
			if p.ChatID != to || p.Text != "x" {
				t.Fatalf("got %+v", p)
			}
		}},
		{"struct value", valueParams{ChatID: tg.ID(-1), Text: "x"}, true, func(t *testing.T, got any) {
			if p := got.(valueParams); p.ChatID != to || p.Text != "x" {
				t.Fatalf("got %+v", p)
			}
		}},
		{"Retargeter", customParams{}, true, func(t *testing.T, got any) {
			if got.(customParams).to != to {
				t.Fatalf("got %+v", got)
			}
		}},
		{"nil", nil, false, nil},
		{"nil pointer", (*tg.SendMessageParams)(nil), false, nil},
		{"map", map[string]any{"chat_id": -1}, false, nil},
		{"ChatID of another type", &wrongType{ChatID: -1}, false, nil},
		{"unexported chat id", &hidden{}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Retarget(tt.params, to)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok {
				tt.check(t, got)
			}
		})
	}
	orig := &tg.SendMessageParams{ChatID: tg.ID(-1)}
	if _, ok := Retarget(orig, to); !ok || orig.ChatID != tg.ID(-1) {
		t.Fatal("Retarget changed the caller's params")
	}
}

func TestHasUpload(t *testing.T) {
	tests := []struct {
		name   string
		params any
		want   bool
	}{
		{"nil", nil, false},
		{"text", &tg.SendMessageParams{Text: "x"}, false},
		{"photo by file_id", &tg.SendPhotoParams{Photo: tg.FileID("AgAD")}, false},
		{"photo by reader", &tg.SendPhotoParams{Photo: tg.FileReader("a.jpg", strings.NewReader("x"))}, true},
		{"photo by path", &tg.SendPhotoParams{Photo: tg.FilePath("/tmp/a.jpg")}, true},
		{"album with one upload", &tg.SendMediaGroupParams{Media: []tg.InputMedia{
			&tg.InputMediaPhoto{Media: tg.FileID("AgAD")},
			&tg.InputMediaPhoto{Media: tg.FileReader("b.jpg", strings.NewReader("x"))},
		}}, true},
		{"album of references", &tg.SendMediaGroupParams{Media: []tg.InputMedia{&tg.InputMediaPhoto{Media: tg.FileURL("https://x/y.jpg")}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasUpload(tt.params); got != tt.want {
				t.Fatalf("hasUpload = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMethodLists(t *testing.T) {
	tests := []struct {
		method             string
		counts, idempotent bool
	}{
		{"sendMessage", true, false},
		{"sendMediaGroup", true, false},
		{"copyMessages", true, false},
		{"editMessageText", true, false},
		{"stopPoll", true, false},
		{"sendChatAction", false, false},
		{"sendMessageDraft", false, false},
		{"answerCallbackQuery", false, false},
		{"getUpdates", false, false},
		{"getMe", false, true},
		{"getFile", false, true},
		{"getChatMember", false, true},
		{"deleteMessage", false, false},
		{"setMyCommands", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			if Counts(tt.method) != tt.counts || Idempotent(tt.method) != tt.idempotent {
				t.Fatalf("Counts = %v, Idempotent = %v; want %v, %v", Counts(tt.method), Idempotent(tt.method), tt.counts, tt.idempotent)
			}
		})
	}
}

// TestCountsFollowsSpec checks Counts against the Bot API spec: every
// method that sends, edits, copies or forwards counts unless it is a known
// exception, and every counted name is a real method (no typo).
func TestCountsFollowsSpec(t *testing.T) {
	raw, err := os.ReadFile("../botapi/api.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Methods map[string]json.RawMessage `json:"methods"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	notMessages := map[string]bool{
		"sendChatAction": true, "sendMessageDraft": true, "sendRichMessageDraft": true,
		"sendChatJoinRequestWebApp": true, "editChatInviteLink": true, "editChatSubscriptionInviteLink": true,
		"editForumTopic": true, "editGeneralForumTopic": true, "editStory": true, "editUserStarSubscription": true,
	}
	counted := 0
	for name := range spec.Methods {
		looksLikeMessage := strings.HasPrefix(name, "send") || strings.HasPrefix(name, "edit") ||
			strings.HasPrefix(name, "copy") || strings.HasPrefix(name, "forward")
		if looksLikeMessage && !notMessages[name] && !Counts(name) {
			t.Errorf("%s puts a message in a chat but does not count", name)
		}
		if Counts(name) {
			counted++
		}
	}
	const namesInCounts = 34 // the case list of Counts
	if counted != namesInCounts {
		t.Fatalf("%d spec methods count, but Counts names %d: a name is misspelt or gone", counted, namesInCounts)
	}
}
