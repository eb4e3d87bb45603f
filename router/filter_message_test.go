package router

import (
	"regexp"
	"testing"

	"github.com/tidygram/tidygram/tg"
)

func msg(m *tg.Message) *tg.Update {
	if m.Chat.ID == 0 {
		m.Chat = tg.Chat{ID: 7, Type: "private"}
	}
	return &tg.Update{UpdateID: 1, Message: m}
}

func TestMessageFilters(t *testing.T) {
	photo := []tg.PhotoSize{{FileID: "p"}}
	loc := &tg.Location{Latitude: 1, Longitude: 2}
	bot := &tg.User{ID: 42, IsBot: true, Username: "GifBot"}
	urlText := "see https://x.io and #go 🎉 @ann"
	tests := []struct {
		name string
		f    Filter
		u    *tg.Update
		want bool
	}{
		{"photo", Photo(), msg(&tg.Message{Photo: photo}), true},
		{"photo: text is not", Photo(), text("x"), false},
		{"photo in a channel post", Photo(), &tg.Update{ChannelPost: &tg.Message{Photo: photo}}, true},
		{"photo in a business message", Photo(), &tg.Update{BusinessMessage: &tg.Message{Photo: photo, BusinessConnectionID: "b"}}, true},
		{"photo: an edit is not new", Photo(), &tg.Update{EditedMessage: &tg.Message{Photo: photo}}, false},
		{"video", Video(), msg(&tg.Message{Video: &tg.Video{FileID: "v"}}), true},
		{"animation", Animation(), msg(&tg.Message{Animation: &tg.Animation{}, Document: &tg.Document{}}), true},
		{"document", Document(), msg(&tg.Message{Document: &tg.Document{}}), true},
		{"document: an animation is not", Document(), msg(&tg.Message{Animation: &tg.Animation{}, Document: &tg.Document{}}), false},
		{"audio", Audio(), msg(&tg.Message{Audio: &tg.Audio{}}), true},
		{"voice", Voice(), msg(&tg.Message{Voice: &tg.Voice{}}), true},
		{"voice: audio is not", Voice(), msg(&tg.Message{Audio: &tg.Audio{}}), false},
		{"video note", VideoNote(), msg(&tg.Message{VideoNote: &tg.VideoNote{}}), true},
		{"sticker", Sticker(), msg(&tg.Message{Sticker: &tg.Sticker{}}), true},
		{"location", Location(), msg(&tg.Message{Location: loc}), true},
		{"location: a venue is not", Location(), msg(&tg.Message{Location: loc, Venue: &tg.Venue{Location: *loc}}), false},
		{"venue", Venue(), msg(&tg.Message{Location: loc, Venue: &tg.Venue{Location: *loc}}), true},
		{"contact", Contact(), msg(&tg.Message{Contact: &tg.Contact{PhoneNumber: "+1"}}), true},
		{"poll", Poll(), msg(&tg.Message{Poll: &tg.Poll{}}), true},
		{"dice any", Dice(), msg(&tg.Message{Dice: &tg.Dice{Emoji: "🎯", Value: 6}}), true},
		{"dice of an emoji", Dice("🎲"), msg(&tg.Message{Dice: &tg.Dice{Emoji: "🎯"}}), false},
		{"dice of one of emoji", Dice("🎲", "🎯"), msg(&tg.Message{Dice: &tg.Dice{Emoji: "🎯"}}), true},
		{"content photo or video", Content("photo", "video"), msg(&tg.Message{Video: &tg.Video{}}), true},
		{"content venue not location", Content("location"), msg(&tg.Message{Location: loc, Venue: &tg.Venue{}}), false},
		{"caption", Caption(), msg(&tg.Message{Photo: photo, Caption: "c"}), true},
		{"caption: none", Caption(), msg(&tg.Message{Photo: photo}), false},
		{"caption prefix", CaptionPrefix("#bug"), msg(&tg.Message{Photo: photo, Caption: "#bug crash"}), true},
		{"caption prefix: text is not caption", CaptionPrefix("#bug"), text("#bug crash"), false},
		{"caption matches", CaptionMatches(regexp.MustCompile(`^\d+$`)), msg(&tg.Message{Caption: "123"}), true},
		{"caption matches: no", CaptionMatches(regexp.MustCompile(`^\d+$`)), msg(&tg.Message{Caption: "12a"}), false},
		{"entity url in text", Entity("url"), msg(&tg.Message{Text: urlText, Entities: []tg.MessageEntity{{Type: "url", Offset: 4, Length: 15}}}), true},
		{"entity in caption", Entity("hashtag"), msg(&tg.Message{Caption: "#go", CaptionEntities: []tg.MessageEntity{{Type: "hashtag", Length: 3}}}), true},
		{"entity of other types", Entity("mention", "email"), msg(&tg.Message{Text: urlText, Entities: []tg.MessageEntity{{Type: "url", Offset: 4, Length: 15}}}), false},
		{"forwarded", Forwarded(), msg(&tg.Message{Text: "x", ForwardOrigin: &tg.MessageOriginUser{SenderUser: tg.User{ID: 1}}}), true},
		{"forwarded: not", Forwarded(), text("x"), false},
		{"reply", ReplyTo(), msg(&tg.Message{Text: "x", ReplyToMessage: &tg.Message{MessageID: 3}}), true},
		{"reply: not", ReplyTo(), text("x"), false},
		{"reply to the bot", ReplyToUser(42), msg(&tg.Message{Text: "x", ReplyToMessage: &tg.Message{From: bot}}), true},
		{"reply to someone else", ReplyToUser(42), msg(&tg.Message{Text: "x", ReplyToMessage: &tg.Message{From: &tg.User{ID: 5}}}), false},
		{"reply to a channel post (no from)", ReplyToUser(42), msg(&tg.Message{Text: "x", ReplyToMessage: &tg.Message{}}), false},
		{"via bot", ViaBot(), msg(&tg.Message{Text: "x", ViaBot: bot}), true},
		{"via a named bot, any case", ViaBot("@gifbot"), msg(&tg.Message{Text: "x", ViaBot: bot}), true},
		{"via another bot", ViaBot("other"), msg(&tg.Message{Text: "x", ViaBot: bot}), false},
		{"via bot: not", ViaBot(), text("x"), false},
		{"message where", MessageWhere(func(m *tg.Message) bool { return m.Dice != nil && m.Dice.Value == 6 }), msg(&tg.Message{Dice: &tg.Dice{Value: 6}}), true},
		{"edited where", EditedWhere(func(m *tg.Message) bool { return ContentType(m) == "photo" }), &tg.Update{EditedBusinessMessage: &tg.Message{Photo: photo}}, true},
		{"edited where: new message is not", EditedWhere(func(*tg.Message) bool { return true }), text("x"), false},
		{"no message", Photo(), callback("x"), false},
	}
	for _, tt := range tests {
		if got := tt.f(tt.u); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestContentType(t *testing.T) {
	tests := []struct {
		m    *tg.Message
		want string
	}{
		{nil, ""},
		{&tg.Message{}, ""},
		{&tg.Message{Text: "x"}, "text"},
		{&tg.Message{Animation: &tg.Animation{}, Document: &tg.Document{}}, "animation"},
		{&tg.Message{Document: &tg.Document{}}, "document"},
		{&tg.Message{LivePhoto: &tg.LivePhoto{}, Photo: []tg.PhotoSize{{}}}, "live_photo"},
		{&tg.Message{Photo: []tg.PhotoSize{{}}, Caption: "c"}, "photo"},
		{&tg.Message{Venue: &tg.Venue{}, Location: &tg.Location{}}, "venue"},
		{&tg.Message{Location: &tg.Location{}}, "location"},
		{&tg.Message{NewChatMembers: []tg.User{{ID: 1}}}, "new_chat_members"},
		{&tg.Message{WebAppData: &tg.WebAppData{}}, "web_app_data"},
	}
	for _, tt := range tests {
		if got := ContentType(tt.m); got != tt.want {
			t.Errorf("ContentType(%+v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

// Commands match case-insensitively, in business messages too, and
// OnText takes business messages; edits stay out.
func TestCommandsAndTextInEveryNewMessage(t *testing.T) {
	r := New()
	r.OnCommand("start", func(*Context) error { return nil })
	r.OnCommand("/Help", func(*Context) error { return nil })
	r.OnText(func(*Context) error { return nil })
	r.Freeze()
	biz := func(s string) *tg.Update {
		return &tg.Update{BusinessMessage: &tg.Message{Chat: tg.Chat{ID: 9}, Text: s, BusinessConnectionID: "c1"}}
	}
	tests := []struct {
		u    *tg.Update
		want string
	}{
		{text("/start"), "/start"},
		{text("/START"), "/start"},
		{text("/Start@MyBot payload"), "/start"},
		{text("/help"), "/Help"},
		{text("/HELP me"), "/Help"},
		{text("/starter"), "text"},
		{biz("/start"), "/start"},
		{biz("/sTaRt x"), "/start"},
		{biz("hello"), "text"},
		{&tg.Update{ChannelPost: &tg.Message{Text: "/start"}}, "/start"},
		{&tg.Update{EditedMessage: &tg.Message{Text: "/start"}}, ""},
		{&tg.Update{EditedBusinessMessage: &tg.Message{Text: "hi"}}, ""},
	}
	for _, tt := range tests {
		name, _, ok := r.Match(tt.u)
		if name != tt.want || ok != (tt.want != "") {
			t.Errorf("%s %q: route %q, want %q", tt.u.Kind(), tt.u.EffectiveMessage().Text, name, tt.want)
		}
	}
}
