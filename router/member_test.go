package router

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tidygram/tidygram/tg"
)

func memberUpd(my bool, old, new tg.ChatMember) *tg.Update {
	cm := &tg.ChatMemberUpdated{Chat: tg.Chat{ID: -5, Type: "supergroup"}, OldChatMember: old, NewChatMember: new}
	if my {
		return &tg.Update{UpdateID: 3, MyChatMember: cm}
	}
	return &tg.Update{UpdateID: 3, ChatMember: cm}
}

func TestMemberTransitions(t *testing.T) {
	var (
		owner      = &tg.ChatMemberOwner{}
		admin      = &tg.ChatMemberAdministrator{}
		member     = &tg.ChatMemberMember{}
		restricted = &tg.ChatMemberRestricted{IsMember: true}
		outR       = &tg.ChatMemberRestricted{IsMember: false}
		left       = &tg.ChatMemberLeft{}
		banned     = &tg.ChatMemberBanned{}
	)
	filters := []struct {
		name string
		f    Filter
	}{{"joined", Joined()}, {"left", Left()}, {"promoted", Promoted()}, {"demoted", Demoted()}, {"restricted", Restricted()}, {"banned", Banned()}}
	tests := []struct {
		name     string
		old, new tg.ChatMember
		want     string // the filters that match, space-separated
	}{
		{"joins", left, member, "joined"},
		{"rejoins after a ban", banned, member, "joined"},
		{"added restricted", left, restricted, "joined restricted"},
		{"restricted non-member becomes member", outR, member, "joined"},
		{"leaves", member, left, "left"},
		{"banned", member, banned, "left banned"},
		{"banned while away", left, banned, "banned"},
		{"promoted", member, admin, "promoted"},
		{"made owner", admin, owner, ""},
		{"demoted", admin, member, "demoted"},
		{"admin leaves", admin, left, "left demoted"},
		{"restricted", member, restricted, "restricted"},
		{"restriction lifted", restricted, member, ""},
		{"restricted and removed", restricted, outR, "left"},
		{"unchanged", member, member, ""},
	}
	for _, tt := range tests {
		for _, my := range []bool{false, true} {
			var got []string
			for _, f := range filters {
				if f.f(memberUpd(my, tt.old, tt.new)) {
					got = append(got, f.name)
				}
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("%s (my_chat_member %v): %q, want %q", tt.name, my, g, tt.want)
			}
		}
	}
	for _, f := range filters {
		if f.f(text("x")) {
			t.Errorf("%s matched a text message", f.name)
		}
	}
}

// Decoded from Telegram's JSON, statuses come from the "status" field;
// an unknown one is kept.
func TestMemberStatusDecoded(t *testing.T) {
	raw := `{"update_id":1,"chat_member":{"chat":{"id":-5,"type":"supergroup"},"from":{"id":1,"is_bot":false,"first_name":"A"},"date":1,
		"old_chat_member":{"status":"left","user":{"id":2,"is_bot":false,"first_name":"B"}},
		"new_chat_member":{"status":"member","user":{"id":2,"is_bot":false,"first_name":"B"}}}}`
	var u tg.Update
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		t.Fatal(err)
	}
	if !Joined()(&u) || MemberStatus(u.ChatMember.OldChatMember) != StatusLeft || MemberStatus(u.ChatMember.NewChatMember) != StatusMember {
		t.Fatalf("decoded transition not seen as a join: %#v", u.ChatMember)
	}
	if got := MemberStatus(&tg.UnknownChatMember{Status: "ghost"}); got != "ghost" {
		t.Errorf("unknown status %q", got)
	}
	if MemberStatus(nil) != "" || IsMember(nil) {
		t.Error("nil member has a status")
	}
}

func TestBusinessFilters(t *testing.T) {
	tests := []struct {
		f    Filter
		u    *tg.Update
		want bool
	}{
		{BusinessMessage(), &tg.Update{BusinessMessage: &tg.Message{}}, true},
		{BusinessMessage(), text("x"), false},
		{EditedBusinessMessage(), &tg.Update{EditedBusinessMessage: &tg.Message{}}, true},
		{BusinessConnection(), &tg.Update{BusinessConnection: &tg.BusinessConnection{ID: "c"}}, true},
		{DeletedBusinessMessages(), &tg.Update{DeletedBusinessMessages: &tg.BusinessMessagesDeleted{}}, true},
		{DeletedBusinessMessages(), &tg.Update{BusinessMessage: &tg.Message{}}, false},
	}
	for i, tt := range tests {
		if got := tt.f(tt.u); got != tt.want {
			t.Errorf("%d (%s): %v, want %v", i, tt.u.Kind(), got, tt.want)
		}
	}
}

func TestDeepLink(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		bot, payload string
		want         string
		err          error
	}{
		{"MyBot", "ref_42", "https://t.me/MyBot?start=ref_42", nil},
		{"@MyBot", "A-z_09", "https://t.me/MyBot?start=A-z_09", nil},
		{"my_bot", long, "https://t.me/my_bot?start=" + long, nil},
		{"MyBot", long + "a", "", ErrPayload},
		{"MyBot", "", "", ErrPayload},
		{"MyBot", "a b", "", ErrPayload},
		{"MyBot", "a+b", "", ErrPayload},
		{"MyBot", "a=b", "", ErrPayload},
		{"MyBot", "ü", "", ErrPayload},
		{"MyBot", "a.b", "", ErrPayload},
		{"", "x", "", nil},
		{"my-bot", "x", "", nil},
	}
	for _, tt := range tests {
		got, err := DeepLink(tt.bot, tt.payload)
		switch {
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("DeepLink(%q, %q) = %q, %v; want %q", tt.bot, tt.payload, got, err, tt.want)
		case tt.want == "" && err == nil:
			t.Errorf("DeepLink(%q, %q) = %q, want an error", tt.bot, tt.payload, got)
		case tt.err != nil && !errors.Is(err, tt.err):
			t.Errorf("DeepLink(%q, %q) error %v, want %v", tt.bot, tt.payload, err, tt.err)
		}
	}
	if got, err := DeepLinkGroup("MyBot", "team"); err != nil || got != "https://t.me/MyBot?startgroup=team" {
		t.Errorf("DeepLinkGroup = %q, %v", got, err)
	}
	// Every byte: exactly A-Z a-z 0-9 _ - pass.
	for c := 0; c < 256; c++ {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if err := CheckPayload(string([]byte{byte(c)})); (err == nil) != ok {
			t.Errorf("CheckPayload(%q) = %v", byte(c), err)
		}
	}
}

func TestEncodePayload(t *testing.T) {
	for _, n := range []int{1, 16, 48} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(250 - i)
		}
		p, err := EncodePayload(data)
		if err != nil || CheckPayload(p) != nil {
			t.Fatalf("%d bytes: %q, %v", n, p, err)
		}
		back, err := DecodePayload(p)
		if err != nil || string(back) != string(data) {
			t.Fatalf("%d bytes: round trip %v, %v", n, back, err)
		}
	}
	if _, err := EncodePayload(make([]byte, 49)); !errors.Is(err, ErrPayload) {
		t.Errorf("49 bytes: %v, want ErrPayload", err)
	}
	if _, err := DecodePayload("***"); !errors.Is(err, ErrPayload) {
		t.Errorf("DecodePayload(***): %v", err)
	}
}

func TestStartPayload(t *testing.T) {
	r := New()
	r.On(StartPayload(func(p string) bool { return strings.HasPrefix(p, "ref_") }), func(*Context) error { return nil })
	r.Handle("deep", StartPayload(nil), func(*Context) error { return nil })
	r.OnCommand("start", func(*Context) error { return nil })
	r.Freeze()
	tests := []struct {
		text, route, payload string
	}{
		{"/start ref_7", "router.TestStartPayload.func2", "ref_7"},
		{"/start@MyBot ref_7", "router.TestStartPayload.func2", "ref_7"},
		{"/START item-3", "deep", "item-3"},
		{"/start", "/start", ""},
		{"/starts x", "", ""},
		{"start x", "", ""},
	}
	for _, tt := range tests {
		u := text(tt.text)
		name, _, _ := r.Match(u)
		c := NewContext(t.Context(), u, nil, name, nil)
		if name != tt.route || c.StartPayload() != tt.payload {
			t.Errorf("%q: route %q payload %q, want %q %q", tt.text, name, c.StartPayload(), tt.route, tt.payload)
		}
	}
}
