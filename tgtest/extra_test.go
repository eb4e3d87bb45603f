package tgtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSendAlbum(t *testing.T) {
	s := newTestServer(t)
	alice := s.NewUser("alice")
	g := s.NewGroup("team")
	if err := alice.Join(g); err != nil {
		t.Fatal(err)
	}
	joined := getUpdates(t, s, map[string]any{"timeout": 0}) // the join
	tests := []struct {
		name    string
		group   *SimGroup
		items   []Media
		wantErr bool
	}{
		{"photos in private", nil, []Media{{Photo: tinyPNG(t, 2, 2), Caption: "first"}, {Photo: tinyPNG(t, 3, 3)}}, false},
		{"mixed in group", g, []Media{{Photo: tinyPNG(t, 2, 2)}, {Name: "a.txt", Data: []byte("hello")}, {Name: "b.txt", Data: []byte("x")}}, false},
		{"ten parts", nil, make10(t), false},
		{"eleven parts", nil, append(make10(t), Media{Name: "c", Data: []byte("c")}), true},
		{"empty", nil, nil, true},
	}
	offset := joined[len(joined)-1].UpdateID + 1
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := alice.SendAlbumTo(tt.group, tt.items...)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil || len(msgs) != len(tt.items) {
				t.Fatalf("SendAlbumTo: %d messages, %v", len(msgs), err)
			}
			us := getUpdates(t, s, map[string]any{"offset": offset, "timeout": 0})
			if len(us) != len(tt.items) {
				t.Fatalf("%d updates, want %d", len(us), len(tt.items))
			}
			offset = us[len(us)-1].UpdateID + 1
			group := us[0].Message.MediaGroupID
			for i, u := range us {
				m := u.Message
				if m == nil || group == "" || m.MediaGroupID != group || m.MessageID != msgs[i].MessageID {
					t.Fatalf("update %d: %+v, want part %d of album %q", i, m, i, group)
				}
				if (tt.items[i].Photo != nil) != (len(m.Photo) > 0) || (tt.items[i].Photo == nil) != (m.Document != nil) {
					t.Fatalf("part %d has the wrong kind: %+v", i, m)
				}
				if m.Caption != tt.items[i].Caption {
					t.Fatalf("part %d caption %q", i, m.Caption)
				}
			}
			// A late part joins the album under the same id.
			more, err := alice.AddToAlbum(tt.group, group, Media{Name: "late.txt", Data: []byte("late")})
			if err != nil || more[0].MediaGroupID != group {
				t.Fatalf("AddToAlbum: %+v %v", more, err)
			}
			us = getUpdates(t, s, map[string]any{"offset": offset, "timeout": 0})
			offset = us[len(us)-1].UpdateID + 1
		})
	}
}

func make10(t *testing.T) []Media {
	out := make([]Media, 10)
	for i := range out {
		out[i] = Media{Photo: tinyPNG(t, 1+i, 1)}
	}
	return out
}

func TestBusinessMessages(t *testing.T) {
	s := newTestServer(t)
	owner := s.NewUser("shopowner")
	customer := s.NewUser("customer")
	biz, err := owner.ConnectBusiness()
	if err != nil {
		t.Fatal(err)
	}
	in, err := biz.Send(customer, "is it in stock?")
	if err != nil {
		t.Fatal(err)
	}
	us := getUpdates(t, s, map[string]any{"timeout": 0})
	if len(us) != 2 || us[0].BusinessConnection == nil || us[0].BusinessConnection.ID != biz.ID() ||
		!us[0].BusinessConnection.IsEnabled || us[0].BusinessConnection.User.ID != owner.ID() {
		t.Fatalf("want business_connection then business_message, got %+v", us)
	}
	bm := us[1].BusinessMessage
	if bm == nil || bm.BusinessConnectionID != biz.ID() || bm.Chat.ID != customer.ID() || bm.From.ID != customer.ID() ||
		bm.Text != "is it in stock?" || bm.MessageID != in.MessageID {
		t.Fatalf("business_message: %+v", bm)
	}
	offset := us[1].UpdateID + 1

	tests := []struct {
		name   string
		params map[string]any
		code   int
		desc   string
	}{
		{"reply on behalf", map[string]any{"business_connection_id": biz.ID(), "chat_id": customer.ID(), "text": "yes",
			"reply_parameters": map[string]any{"message_id": in.MessageID}}, 200, ""},
		{"unknown connection", map[string]any{"business_connection_id": "nope", "chat_id": customer.ID(), "text": "x"}, 400, "Bad Request: BUSINESS_CONNECTION_INVALID"},
		{"unknown chat", map[string]any{"business_connection_id": biz.ID(), "chat_id": owner.ID(), "text": "x"}, 400, "Bad Request: chat not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := call(t, s, "sendMessage", tt.params)
			if tt.code != 200 {
				wantError(t, env, tt.code, tt.desc)
				return
			}
			m := decodeResult[Message](t, env)
			if m.BusinessConnectionID != biz.ID() || m.From.ID != owner.ID() || m.SenderBusinessBot == nil ||
				m.SenderBusinessBot.ID != s.Bot().ID || m.ReplyToMessage == nil || m.ReplyToMessage.MessageID != in.MessageID {
				t.Fatalf("sent: %+v", m)
			}
		})
	}
	got, err := biz.WaitMessages(testCtx(t), customer, 1)
	if err != nil || len(got) != 1 || got[0].Text != "yes" {
		t.Fatalf("WaitMessages: %+v %v", got, err)
	}
	if n := len(s.Messages(customer.ChatID())); n != 0 {
		t.Fatalf("the bot's own chat with the customer got %d messages", n)
	}
	// Edit through the connection; the plain chat does not hold it.
	mustOK(t, call(t, s, "editMessageText", map[string]any{"business_connection_id": biz.ID(), "chat_id": customer.ID(),
		"message_id": got[0].MessageID, "text": "yes, 3 left"}))
	if m := biz.Messages(customer); len(m) != 1 || m[0].Text != "yes, 3 left" {
		t.Fatalf("after edit: %+v", m)
	}
	wantError(t, call(t, s, "editMessageText", map[string]any{"chat_id": customer.ID(), "message_id": got[0].MessageID, "text": "z"}),
		400, "Bad Request: message to edit not found")

	if err := biz.Disconnect(); err != nil {
		t.Fatal(err)
	}
	us = getUpdates(t, s, map[string]any{"offset": offset, "timeout": 0})
	if len(us) != 1 || us[0].BusinessConnection == nil || us[0].BusinessConnection.IsEnabled {
		t.Fatalf("want a disabled business_connection, got %+v", us)
	}
	wantError(t, call(t, s, "sendMessage", map[string]any{"business_connection_id": biz.ID(), "chat_id": customer.ID(), "text": "x"}),
		400, "Bad Request: BUSINESS_CONNECTION_NOT_ALLOWED")
}

func TestChatMemberStatus(t *testing.T) {
	s := newTestServer(t)
	admin, bob := s.NewUser("admin"), s.NewUser("bob")
	g := s.NewGroup("team")
	getUpdates(t, s, map[string]any{"timeout": 0, "allowed_updates": []string{"message", "chat_member", "my_chat_member"}})
	if err := bob.Join(g); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		set      func() error
		old, new string
		bot      bool
	}{
		{"promote", func() error { return g.SetStatus(admin, bob, StatusAdministrator) }, StatusMember, StatusAdministrator, false},
		{"restrict", func() error { return g.SetStatus(admin, bob, StatusRestricted) }, StatusAdministrator, StatusRestricted, false},
		{"kick", func() error { return g.SetStatus(admin, bob, StatusKicked) }, StatusRestricted, StatusKicked, false},
		{"bot promoted", func() error { return g.SetBotStatus(admin, StatusAdministrator) }, StatusMember, StatusAdministrator, true},
		{"bot removed", func() error { return g.SetBotStatus(admin, StatusKicked) }, StatusAdministrator, StatusKicked, true},
	}
	offset := getUpdates(t, s, map[string]any{"timeout": 0})[1].UpdateID + 1 // the join: message and chat_member
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.set(); err != nil {
				t.Fatal(err)
			}
			us := getUpdates(t, s, map[string]any{"offset": offset, "timeout": 0})
			if len(us) != 1 {
				t.Fatalf("%d updates", len(us))
			}
			offset = us[0].UpdateID + 1
			cmu, who := us[0].ChatMember, bob.ID()
			if tt.bot {
				cmu, who = us[0].MyChatMember, s.Bot().ID
			}
			if cmu == nil || cmu.Chat.ID != g.ID() || cmu.From.ID != admin.ID() || cmu.OldChatMember.Status != tt.old ||
				cmu.NewChatMember.Status != tt.new || cmu.NewChatMember.User.ID != who {
				t.Fatalf("got %+v", us[0])
			}
		})
	}
	if err := g.SetStatus(admin, bob, "boss"); err == nil {
		t.Fatal("an unknown status is accepted")
	}
	wantError(t, call(t, s, "sendMessage", map[string]any{"chat_id": g.ID(), "text": "x"}), 403, "Forbidden: bot is not a member")
}

func TestWebAppData(t *testing.T) {
	s := newTestServer(t)
	alice := s.NewUser("alice")
	// initData: hash is the HMAC of the sorted fields under HMAC("WebAppData", token).
	raw := alice.WebAppInitData(url.Values{"start_param": {"ref42"}})
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("start_param") != "ref42" || !strings.Contains(v.Get("user"), `"first_name":"alice"`) || v.Get("auth_date") == "" || v.Get("query_id") == "" {
		t.Fatalf("initData fields: %v", v)
	}
	k := hmac.New(sha256.New, []byte("WebAppData"))
	k.Write([]byte(s.Token()))
	checkHash(t, k.Sum(nil), v)

	lw := alice.LoginWidgetData(nil)
	key := sha256.Sum256([]byte(s.Token()))
	checkHash(t, key[:], lw)

	if _, err := alice.SendWebAppData("Order", `{"item":3}`); err != nil {
		t.Fatal(err)
	}
	us := getUpdates(t, s, map[string]any{"timeout": 0})
	if len(us) != 1 || us[0].Message.WebAppData == nil || us[0].Message.WebAppData.Data != `{"item":3}` || us[0].Message.WebAppData.ButtonText != "Order" {
		t.Fatalf("web_app_data: %+v", us)
	}
}

func checkHash(t *testing.T, key []byte, v url.Values) {
	t.Helper()
	var lines []string
	for k := range v {
		if k != "hash" {
			lines = append(lines, k+"="+v.Get(k))
		}
	}
	sortStrings(lines)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strings.Join(lines, "\n")))
	if got := hex.EncodeToString(mac.Sum(nil)); got != v.Get("hash") {
		t.Fatalf("hash %s, want %s", v.Get("hash"), got)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestPreCheckout(t *testing.T) {
	s := newTestServer(t)
	alice := s.NewUser("alice")
	tests := []struct {
		name   string
		answer map[string]any
		code   int
		want   PreCheckoutAnswer
	}{
		{"ok", map[string]any{"ok": true}, 200, PreCheckoutAnswer{OK: true}},
		{"refused", map[string]any{"ok": false, "error_message": "sold out"}, 200, PreCheckoutAnswer{ErrorMessage: "sold out"}},
		{"refused without a reason", map[string]any{"ok": false}, 400, PreCheckoutAnswer{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := alice.PreCheckout("EUR", 1250, "order-1")
			if err != nil {
				t.Fatal(err)
			}
			us := getUpdates(t, s, map[string]any{"timeout": 0})
			q := us[len(us)-1].PreCheckoutQuery
			if q == nil || q.ID != id || q.TotalAmount != 1250 || q.Currency != "EUR" || q.InvoicePayload != "order-1" || q.From.ID != alice.ID() {
				t.Fatalf("pre_checkout_query: %+v", us)
			}
			getUpdates(t, s, map[string]any{"offset": us[len(us)-1].UpdateID + 1, "timeout": 0})
			tt.answer["pre_checkout_query_id"] = id
			env := call(t, s, "answerPreCheckoutQuery", tt.answer)
			if tt.code != 200 {
				wantError(t, env, tt.code, "Bad Request")
				return
			}
			mustOK(t, env)
			got, err := s.WaitPreCheckoutAnswer(testCtx(t), id)
			if err != nil || got != tt.want {
				t.Fatalf("answer %+v %v, want %+v", got, err, tt.want)
			}
			wantError(t, call(t, s, "answerPreCheckoutQuery", tt.answer), 400, "Bad Request: query is too old")
		})
	}
}

func TestLocalMode(t *testing.T) {
	s := newTestServer(t, WithLocalMode())
	alice := s.NewUser("alice")
	in, err := alice.SendDocument("report.txt", []byte("quarterly numbers"))
	if err != nil {
		t.Fatal(err)
	}
	f := decodeResult[File](t, call(t, s, "getFile", map[string]any{"file_id": in.Document.FileID}))
	if !filepath.IsAbs(f.FilePath) {
		t.Fatalf("file_path %q is not absolute", f.FilePath)
	}
	b, err := os.ReadFile(f.FilePath)
	if err != nil || string(b) != "quarterly numbers" {
		t.Fatalf("reading %s: %q %v", f.FilePath, b, err)
	}
	// Not served over HTTP, as a --local server does not.
	resp, err := sharedClient(t, s).Get(s.URL() + "/file/bot" + s.Token() + "/" + strings.TrimPrefix(f.FilePath, "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("download over HTTP: %d, want 404", resp.StatusCode)
	}
	// Uploads by local path and file:// URI.
	local := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(local, []byte("%PDF-1.4"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{local, "file://" + local} {
		m := decodeResult[Message](t, call(t, s, "sendDocument", map[string]any{"chat_id": alice.ChatID(), "document": ref}))
		got, err := s.FileContent(m.Document.FileID)
		if err != nil || string(got) != "%PDF-1.4" || m.Document.FileName != "invoice.pdf" {
			t.Fatalf("%s: %+v %q %v", ref, m.Document, got, err)
		}
	}
	wantError(t, call(t, s, "sendDocument", map[string]any{"chat_id": alice.ChatID(), "document": local + ".missing"}), 400, "Bad Request")

	// The cloud server refuses local paths.
	cloud := newTestServer(t)
	bob := cloud.NewUser("bob")
	wantError(t, call(t, cloud, "sendDocument", map[string]any{"chat_id": bob.ChatID(), "document": local}), 400, "Bad Request: wrong file identifier")
}

// TestControlAPIExtras: the features above through the control API, for
// bots in other languages.
func TestControlAPIExtras(t *testing.T) {
	s := newTestServer(t)
	var owner, customer User
	ctl(t, s, "POST", "/_tgtest/users", map[string]string{"name": "Owner"}, &owner)
	ctl(t, s, "POST", "/_tgtest/users", map[string]string{"name": "Cus"}, &customer)
	user := "/_tgtest/users/" + fmtInt(owner.ID)

	var parts []Message
	if code := ctl(t, s, "POST", user+"/album", map[string]any{"items": []map[string]any{
		{"photo": tinyPNG(t, 2, 2), "caption": "front"}, {"name": "a.txt", "file": []byte("a")}}}, &parts); code != 200 ||
		len(parts) != 2 || parts[0].MediaGroupID == "" || parts[0].MediaGroupID != parts[1].MediaGroupID || parts[1].Document == nil {
		t.Fatalf("album: %d %+v", code, parts)
	}
	var wa map[string]string
	ctl(t, s, "POST", user+"/webapp", map[string]any{"extra": map[string]string{"start_param": "p1"}}, &wa)
	v, err := url.ParseQuery(wa["init_data"])
	if err != nil || v.Get("start_param") != "p1" {
		t.Fatalf("init_data %q %v", wa["init_data"], err)
	}
	k := hmac.New(sha256.New, []byte("WebAppData"))
	k.Write([]byte(s.Token()))
	checkHash(t, k.Sum(nil), v)
	var lw map[string]string
	ctl(t, s, "POST", user+"/login", nil, &lw)
	lv := url.Values{}
	for key, x := range lw {
		lv.Set(key, x)
	}
	key := sha256.Sum256([]byte(s.Token()))
	checkHash(t, key[:], lv)
	var wad Message
	ctl(t, s, "POST", user+"/webapp_data", map[string]string{"button_text": "Order", "data": "x"}, &wad)
	if wad.WebAppData == nil || wad.WebAppData.Data != "x" {
		t.Fatalf("webapp_data %+v", wad)
	}

	var pc map[string]string
	ctl(t, s, "POST", user+"/precheckout", map[string]any{"currency": "EUR", "total": 100, "payload": "p"}, &pc)
	mustOK(t, call(t, s, "answerPreCheckoutQuery", map[string]any{"pre_checkout_query_id": pc["pre_checkout_query_id"], "ok": true}))
	var ans PreCheckoutAnswer
	if ctl(t, s, "GET", "/_tgtest/precheckout/"+pc["pre_checkout_query_id"]+"?timeout=5s", nil, &ans); !ans.OK {
		t.Fatalf("pre-checkout answer %+v", ans)
	}

	var biz map[string]string
	ctl(t, s, "POST", user+"/business", nil, &biz)
	var in Message
	ctl(t, s, "POST", "/_tgtest/business/"+biz["business_connection_id"]+"/send", map[string]any{"user_id": customer.ID, "text": "hello"}, &in)
	if in.BusinessConnectionID != biz["business_connection_id"] || in.Text != "hello" {
		t.Fatalf("business message %+v", in)
	}
	mustOK(t, call(t, s, "sendMessage", map[string]any{"business_connection_id": biz["business_connection_id"], "chat_id": customer.ID, "text": "hi back"}))
	var sent []Message
	ctl(t, s, "GET", "/_tgtest/business/"+biz["business_connection_id"]+"/messages?user_id="+fmtInt(customer.ID)+"&n=1&timeout=5s", nil, &sent)
	if len(sent) != 1 || sent[0].Text != "hi back" {
		t.Fatalf("business messages %+v", sent)
	}

	var g Chat
	ctl(t, s, "POST", "/_tgtest/groups", map[string]string{"title": "crew"}, &g)
	if code := ctl(t, s, "POST", "/_tgtest/groups/"+fmtInt(g.ID)+"/status", map[string]any{"by": owner.ID, "user_id": customer.ID, "status": "administrator"}, nil); code != 200 {
		t.Fatalf("status: %d", code)
	}
	if code := ctl(t, s, "POST", "/_tgtest/groups/"+fmtInt(g.ID)+"/status", map[string]any{"by": owner.ID, "status": "kicked"}, nil); code != 200 {
		t.Fatalf("bot status: %d", code)
	}
	if code := ctl(t, s, "POST", "/_tgtest/groups/"+fmtInt(g.ID)+"/status", map[string]any{"by": owner.ID, "user_id": customer.ID, "status": "boss"}, nil); code != 400 {
		t.Fatalf("unknown status: %d", code)
	}
	if code := ctl(t, s, "POST", "/_tgtest/business/nope/send", map[string]any{"user_id": customer.ID, "text": "x"}, nil); code != 404 {
		t.Fatalf("unknown connection: %d", code)
	}
}
