package tg

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

// TestParamsEncoding checks the JSON of params: chat ids as numbers or
// @usernames, each kind of reply_markup with its shape, pointers that keep
// a meaningful false or 0, and optional zero values left out.
func TestParamsEncoding(t *testing.T) {
	tests := []struct {
		name string
		p    any
		want string
	}{
		{"numeric chat id", &SendMessageParams{ChatID: ID(-1001234567890123), Text: "hi"},
			`{"chat_id":-1001234567890123,"text":"hi"}`},
		{"username", &SendMessageParams{ChatID: Username("channel"), Text: "hi"},
			`{"chat_id":"@channel","text":"hi"}`},
		{"no chat: 0", &SendMessageParams{Text: "hi"}, `{"chat_id":0,"text":"hi"}`},
		{"username escaped as any string", &SendMessageParams{ChatID: Username("a<b&c>\u2028"), Text: "hi"},
			`{"chat_id":"@a\u003cb\u0026c\u003e\u2028","text":"hi"}`},
		{"inline keyboard", &SendMessageParams{ChatID: ID(1), Text: "t", ReplyMarkup: &InlineKeyboardMarkup{
			InlineKeyboard: [][]InlineKeyboardButton{{{Text: "a", CallbackData: "x"}}}}},
			`{"chat_id":1,"text":"t","reply_markup":{"inline_keyboard":[[{"text":"a","callback_data":"x"}]]}}`},
		{"reply keyboard", &SendMessageParams{ChatID: ID(1), Text: "t", ReplyMarkup: &ReplyKeyboardMarkup{
			Keyboard: [][]KeyboardButton{{{Text: "a"}}}, ResizeKeyboard: true}},
			`{"chat_id":1,"text":"t","reply_markup":{"keyboard":[[{"text":"a"}]],"resize_keyboard":true}}`},
		{"remove keyboard", &SendMessageParams{ChatID: ID(1), Text: "t", ReplyMarkup: &ReplyKeyboardRemove{RemoveKeyboard: true}},
			`{"chat_id":1,"text":"t","reply_markup":{"remove_keyboard":true}}`},
		{"force reply", &SendMessageParams{ChatID: ID(1), Text: "t", ReplyMarkup: &ForceReply{ForceReply: true, InputFieldPlaceholder: "?"}},
			`{"chat_id":1,"text":"t","reply_markup":{"force_reply":true,"input_field_placeholder":"?"}}`},
		{"reply parameters, quote at position 0", &SendMessageParams{ChatID: ID(1), Text: "t",
			ReplyParameters: &ReplyParameters{MessageID: 5, Quote: "q", QuotePosition: Ptr[int64](0)}},
			`{"chat_id":1,"text":"t","reply_parameters":{"message_id":5,"quote":"q","quote_position":0}}`},
		{"tristate bool false kept", &SendPollParams{ChatID: ID(1), Question: "q", Options: []InputPollOption{{Text: "a"}}, IsAnonymous: Ptr(false)},
			`{"chat_id":1,"question":"q","options":[{"text":"a"}],"is_anonymous":false}`},
		{"tristate bool unset left out", &SendPollParams{ChatID: ID(1), Question: "q", Options: []InputPollOption{{Text: "a"}}},
			`{"chat_id":1,"question":"q","options":[{"text":"a"}]}`},
		{"required false and 0 kept", &SetGameScoreParams{UserID: 1, Score: 0, Force: false},
			`{"user_id":1,"score":0}`},
		{"union member discriminator filled in", &SetMessageReactionParams{ChatID: ID(1), MessageID: 2,
			Reaction: []ReactionType{&ReactionTypeEmoji{Emoji: "👍"}, &ReactionTypeCustomEmoji{CustomEmojiID: "9"}}},
			`{"chat_id":1,"message_id":2,"reaction":[{"type":"emoji","emoji":"👍"},{"type":"custom_emoji","custom_emoji_id":"9"}]}`},
		{"scope", &SetMyCommandsParams{Commands: []BotCommand{{Command: "start", Description: "go"}}, Scope: &BotCommandScopeChat{ChatID: Username("g")}},
			`{"commands":[{"command":"start","description":"go"}],"scope":{"type":"chat","chat_id":"@g"}}`},
		{"file references", &SendPhotoParams{ChatID: ID(1), Photo: FileID("AgAD")},
			`{"chat_id":1,"photo":"AgAD"}`},
		{"no params", (*GetUpdatesParams)(nil), `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if tc.want == "null" {
				return
			}
			// Decoding gives the same params back (the emulator decodes requests).
			back := reflect.New(reflect.TypeOf(tc.p).Elem()).Interface()
			if err := json.Unmarshal(got, back); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if again, _ := json.Marshal(back); string(again) != tc.want {
				t.Errorf("decoded and re-encoded as %s", again)
			}
		})
	}
}

// specCarriers computes from the spec which types and methods can carry an
// upload: an InputFile field, a String documented with attach://, or a
// field of such a type (through arrays and union members), to a fixed point.
func specCarriers(s *schema) map[string]bool {
	carries := map[string]bool{}
	fieldCarries := func(f *schemaField) bool {
		if strings.Contains(f.Description, "attach://") {
			return true
		}
		for _, typ := range s.expand(f.Types) {
			for strings.HasPrefix(typ, "Array of ") {
				typ = strings.TrimPrefix(typ, "Array of ")
			}
			for _, e := range s.expand([]string{typ}) {
				if e == "InputFile" || carries[e] {
					return true
				}
			}
		}
		return false
	}
	for changed := true; changed; {
		changed = false
		for _, coll := range []map[string]*schemaType{s.Types, s.Methods} {
			for name, t := range coll {
				if !carries[name] && slices.ContainsFunc(t.Fields, fieldCarries) {
					carries[name], changed = true, true
				}
			}
		}
	}
	return carries
}

// TestMethodsComplete checks every spec method against the generated code:
// a Client method taking its params type (or only ctx), TargetChat for a
// chat_id, appendUploads exactly when the spec says it can carry a file.
func TestMethodsComplete(t *testing.T) {
	s := testSchema(t)
	gen := generatedMethods()
	if len(gen) != len(s.Methods) || len(s.Methods) != 180 {
		t.Errorf("%d generated methods, %d in the spec, want 180", len(gen), len(s.Methods))
	}
	carriers := specCarriers(s)
	client := reflect.TypeFor[*Client]()
	var nCarry, nChat int
	defer func() { t.Logf("%d methods, %d carry uploads, %d have chat_id", len(gen), nCarry, nChat) }()
	for name, sm := range s.Methods {
		g, ok := gen[name]
		if !ok {
			t.Errorf("%s: not generated", name)
			continue
		}
		cm, ok := client.MethodByName(g.name)
		switch {
		case !ok:
			t.Errorf("%s: no method Client.%s", name, g.name)
			continue
		case (len(sm.Fields) == 0) != (g.params == nil):
			t.Errorf("%s: %d fields but params %T", name, len(sm.Fields), g.params)
		case g.params != nil && (cm.Type.NumIn() != 3 || cm.Type.In(2) != reflect.TypeOf(g.params)):
			t.Errorf("%s: Client.%s has type %v, want params %T", name, g.name, cm.Type, g.params)
		}
		if g.params == nil {
			continue
		}
		if carriers[name] {
			nCarry++
		}
		if _, ok := g.params.(uploadCarrier); ok != carriers[name] {
			t.Errorf("%s: params implement uploadCarrier = %v, spec says it carries files = %v", name, ok, carriers[name])
		}
		hasChat := slices.ContainsFunc(sm.Fields, func(f *schemaField) bool { return f.Name == "chat_id" })
		ct, ok := g.params.(ChatTargeter)
		if ok != hasChat {
			t.Errorf("%s: ChatTargeter = %v, chat_id field = %v", name, ok, hasChat)
			continue
		}
		if ok {
			nChat++
			f := reflect.ValueOf(g.params).Elem().FieldByName("ChatID")
			if f.Type() == reflect.TypeFor[ChatID]() {
				f.Set(reflect.ValueOf(ID(42)))
			} else {
				f.SetInt(42)
			}
			if ct.TargetChat() != ID(42) {
				t.Errorf("%s: TargetChat() = %v after setting chat_id 42", name, ct.TargetChat())
			}
		}
	}
}

// TestAppendUploads: every upload in params, nested ones included, is
// collected once per occurrence and in field order; references are not.
func TestAppendUploads(t *testing.T) {
	up := func(name string) *InputFile { return FileReader(name, strings.NewReader(name)) }
	a, b, c, d := up("a"), up("b"), up("c"), up("d")
	tests := []struct {
		name string
		p    uploadCarrier
		want []*InputFile
	}{
		{"photo by reference", &SendPhotoParams{Photo: FileID("x")}, nil},
		{"photo and thumbnail", &SendDocumentParams{Document: a, Thumbnail: b}, []*InputFile{a, b}},
		{"media group", &SendMediaGroupParams{Media: []InputMedia{
			&InputMediaPhoto{Media: a}, &InputMediaPhoto{Media: FileURL("https://x/y.jpg")},
			&InputMediaVideo{Media: b, Thumbnail: c, Cover: FileID("z")}, nil}}, []*InputFile{a, b, c}},
		{"sticker set", &CreateNewStickerSetParams{Stickers: []InputSticker{{Sticker: a}, {Sticker: FileID("s")}, {Sticker: b}}}, []*InputFile{a, b}},
		{"paid media", &SendPaidMediaParams{Media: []InputPaidMedia{&InputPaidMediaLivePhoto{Media: a, Photo: b}}}, []*InputFile{a, b}},
		{"story", &PostStoryParams{Content: &InputStoryContentVideo{Video: a}}, []*InputFile{a}},
		{"profile photo", &SetBusinessAccountProfilePhotoParams{Photo: &InputProfilePhotoAnimated{Animation: a}}, []*InputFile{a}},
		{"poll media, nested in options", &SendPollParams{Media: &InputMediaDocument{Media: a},
			Options: []InputPollOption{{Media: &InputMediaSticker{Media: b}}, {Text: "no media"}, {Media: &InputMediaPhoto{Media: c}}}},
			[]*InputFile{b, c, a}}, // options come before media in the spec
		{"webhook certificate", &SetWebhookParams{Certificate: d}, []*InputFile{d}},
		{"edit media", &EditMessageMediaParams{Media: &InputMediaAnimation{Media: a, Thumbnail: a}}, []*InputFile{a, a}},
		{"nil params", (*SendPhotoParams)(nil), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.appendUploads(nil)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %d uploads %v, want %d %v", len(got), names(got), len(tc.want), names(tc.want))
			}
		})
	}
}

func names(fs []*InputFile) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name())
	}
	return out
}

// TestMethodResults calls methods of each result shape against a Bot API on
// 127.0.0.1 that decodes the JSON request into the method's params type:
// objects, True, "Message or True", unions and arrays of them, integers and
// strings; and a nil params pointer sends no body.
func TestMethodResults(t *testing.T) {
	answers := map[string]string{
		"getMe":                 `{"id":1,"is_bot":true,"first_name":"b"}`,
		"sendMessage":           `{"message_id":5,"date":1,"chat":{"id":-100,"type":"supergroup"},"text":"hi"}`,
		"editMessageText":       `true`,
		"getChatMember":         `{"status":"administrator","user":{"id":2,"is_bot":false,"first_name":"u"},"can_be_edited":false,"is_anonymous":false,"can_manage_chat":true,"can_delete_messages":true,"can_manage_video_chats":false,"can_restrict_members":true,"can_promote_members":false,"can_change_info":false,"can_invite_users":true,"can_post_stories":false,"can_edit_stories":false,"can_delete_stories":false}`,
		"getChatAdministrators": `[{"status":"creator","user":{"id":3,"is_bot":false,"first_name":"o"},"is_anonymous":false},{"status":"zz_new"}]`,
		"deleteMessage":         `true`,
		"getChatMemberCount":    `12345678901`,
		"exportChatInviteLink":  `"https://t.me/+x"`,
		"getUpdates":            `[]`,
	}
	var (
		mu     sync.Mutex
		bodies = map[string]string{}
	)
	sent := func(method string) string {
		mu.Lock()
		defer mu.Unlock()
		return bodies[method]
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[method] = string(body)
		mu.Unlock()
		if len(body) > 0 {
			p := reflect.New(reflect.TypeOf(generatedMethods()[method].params).Elem()).Interface()
			if err := json.Unmarshal(body, p); err != nil {
				http.Error(w, `{"ok":false,"error_code":400,"description":"bad params"}`, 400)
				return
			}
		}
		io.WriteString(w, `{"ok":true,"result":`+answers[method]+`}`)
	}))
	defer srv.Close()
	c, err := NewClient("123:test", WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	if me, err := c.GetMe(ctx); err != nil || me.ID != 1 || !me.IsBot {
		t.Errorf("GetMe = %+v, %v", me, err)
	}
	m, err := c.SendMessage(ctx, &SendMessageParams{ChatID: ID(-100), Text: "hi", ReplyMarkup: &ForceReply{ForceReply: true}})
	if err != nil || m.MessageID != 5 || m.Chat.ID != -100 {
		t.Errorf("SendMessage = %+v, %v", m, err)
	}
	if want := `{"chat_id":-100,"text":"hi","reply_markup":{"force_reply":true}}`; sent("sendMessage") != want {
		t.Errorf("sendMessage body %s, want %s", sent("sendMessage"), want)
	}
	if m, err := c.EditMessageText(ctx, &EditMessageTextParams{InlineMessageID: "i", Text: "t"}); err != nil || m != nil {
		t.Errorf("EditMessageText of an inline message = %+v, %v; want nil, nil", m, err)
	}
	cm, err := c.GetChatMember(ctx, &GetChatMemberParams{ChatID: ID(-100), UserID: 2})
	if a, ok := cm.(*ChatMemberAdministrator); err != nil || !ok || a.User.ID != 2 || !a.CanRestrictMembers {
		t.Errorf("GetChatMember = %#v, %v", cm, err)
	}
	admins, err := c.GetChatAdministrators(ctx, &GetChatAdministratorsParams{ChatID: Username("g")})
	if err != nil || len(admins) != 2 {
		t.Fatalf("GetChatAdministrators = %#v, %v", admins, err)
	}
	if _, ok := admins[0].(*ChatMemberOwner); !ok {
		t.Errorf("admins[0] = %T", admins[0])
	}
	if u, ok := admins[1].(*UnknownChatMember); !ok || u.Status != "zz_new" {
		t.Errorf("admins[1] = %#v", admins[1])
	}
	if err := c.DeleteMessage(ctx, &DeleteMessageParams{ChatID: ID(1), MessageID: 2}); err != nil {
		t.Errorf("DeleteMessage: %v", err)
	}
	if n, err := c.GetChatMemberCount(ctx, &GetChatMemberCountParams{ChatID: ID(1)}); err != nil || n != 12345678901 {
		t.Errorf("GetChatMemberCount = %d, %v", n, err)
	}
	if s, err := c.ExportChatInviteLink(ctx, &ExportChatInviteLinkParams{ChatID: ID(1)}); err != nil || s != "https://t.me/+x" {
		t.Errorf("ExportChatInviteLink = %q, %v", s, err)
	}
	if ups, err := c.GetUpdates(ctx, nil); err != nil || ups == nil || len(ups) != 0 || sent("getUpdates") != "" {
		t.Errorf("GetUpdates(nil) = %#v, %v, sent %q", ups, err, sent("getUpdates"))
	}
}
