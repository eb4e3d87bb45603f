package tg

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

// specUnions returns the spec's abstract types (name → subtypes) plus the
// synthetic unions of multi-type fields, read from the spec.
func specUnions(s *schema) map[string][]string {
	out := map[string][]string{}
	for name, t := range s.Types {
		if len(t.Subtypes) > 0 {
			out[name] = t.Subtypes
		}
	}
	// reply_markup's "InlineKeyboardMarkup or ReplyKeyboardMarkup or …".
	for _, m := range s.Methods {
		for _, f := range m.Fields {
			if f.Name == "reply_markup" && len(f.Types) > 1 {
				out["ReplyMarkup"] = f.Types
			}
		}
	}
	return out
}

// TestUnionsComplete checks that every abstract type of the spec is a
// generated union with exactly the spec's members.
func TestUnionsComplete(t *testing.T) {
	gen := generatedUnions()
	want := specUnions(testSchema(t))
	if len(want) != 26 { // 25 abstract types and ReplyMarkup in 10.1
		t.Errorf("spec has %d unions, want 26", len(want))
	}
	for name, members := range want {
		g, ok := gen[name]
		if !ok {
			t.Errorf("union %s is not generated", name)
			continue
		}
		var got []string
		for m := range g.members {
			got = append(got, m)
		}
		slices.Sort(got)
		members = slices.Sorted(slices.Values(members))
		if !slices.Equal(got, members) {
			t.Errorf("union %s: members %q, spec %q", name, got, members)
		}
	}
}

// TestUnionDecoding decodes, for every member of every union, a JSON object
// with all required fields and its discriminator: it must become the right
// Go type and encode back to the same JSON. An unknown discriminator (or an
// object matching no member) must decode to Unknown<Union> and encode back
// byte for byte.
func TestUnionDecoding(t *testing.T) {
	s := testSchema(t)
	for name, g := range generatedUnions() {
		for member, typ := range g.members {
			t.Run(name+"/"+member, func(t *testing.T) {
				data, err := json.Marshal(s.sample(member, 0))
				if err != nil {
					t.Fatal(err)
				}
				v, err := g.decode(data)
				if err != nil {
					t.Fatalf("decode %s: %v", data, err)
				}
				if reflect.TypeOf(v) != typ {
					t.Fatalf("decode %s: got %T, want %v", data, v, typ)
				}
				out, err := json.Marshal(v)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				if !reflect.DeepEqual(tree(t, data), tree(t, out)) {
					t.Errorf("re-encoded differently:\n in: %s\nout: %s", data, out)
				}
			})
		}
		if g.unknown == nil {
			continue // MaybeInaccessibleMessage: every object is one of the two
		}
		t.Run(name+"/unknown", func(t *testing.T) {
			// Compact: encoding/json compacts what MarshalJSON returns; Raw
			// itself keeps the bytes as received.
			data := []byte(`{"type":"zz_future","status":"zz_future","source":"zz_future","zz_new_field":[1,2.50,{"a":null}]}`)
			v, err := g.decode(data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if reflect.TypeOf(v) != g.unknown {
				t.Fatalf("got %T, want %v", v, g.unknown)
			}
			if raw := reflect.ValueOf(v).Elem().FieldByName("Raw").Bytes(); !bytes.Equal(raw, data) {
				t.Errorf("Raw = %s, want the input", raw)
			}
			out, err := json.Marshal(v)
			if err != nil || !bytes.Equal(out, data) {
				t.Errorf("re-encoded as %s (%v), want the input unchanged", out, err)
			}
		})
	}
}

// TestUnionDecodingErrors: values that are no member are errors, null is nil.
func TestUnionDecodingErrors(t *testing.T) {
	tests := []struct {
		union, in string
		wantErr   bool
	}{
		{"ReactionType", `null`, false},
		{"ReactionType", `"emoji"`, true},
		{"ReactionType", `[]`, true},
		{"ReactionType", `{"type":"emoji","emoji":5}`, true},
		{"ChatMember", `{"status":"member","user":"x"}`, true},
		{"MaybeInaccessibleMessage", `{"date":"yesterday"}`, true},
		{"RichText", `12`, true},
		{"RichText", `["a",{"type":"bold","text":7}]`, true},
	}
	for _, tc := range tests {
		t.Run(tc.union+" "+tc.in, func(t *testing.T) {
			v, err := generatedUnions()[tc.union].decode([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && v != nil {
				t.Fatalf("got %#v for %s", v, tc.in)
			}
		})
	}
}

// TestDiscriminatorFilledIn: a member encoded with an empty discriminator
// gets its documented value.
func TestDiscriminatorFilledIn(t *testing.T) {
	s := testSchema(t)
	for name, g := range generatedUnions() {
		for member, typ := range g.members {
			st := s.Types[member]
			if st == nil || typ.Kind() != reflect.Pointer {
				continue
			}
			for _, f := range st.Fields {
				want, ok := discValue(f)
				if !ok {
					continue
				}
				if _, isString := want.(string); !isString {
					continue // InaccessibleMessage.date: an Integer, 0 anyway
				}
				out, err := json.Marshal(reflect.New(typ.Elem()).Interface())
				if err != nil {
					t.Fatalf("%s/%s: %v", name, member, err)
				}
				var got map[string]any
				if err := json.Unmarshal(out, &got); err != nil || got[f.Name] != want {
					t.Errorf("%s/%s: zero value encodes as %s, want %s %q", name, member, out, f.Name, want)
				}
			}
		}
	}
	out, err := json.Marshal(&ReactionTypeEmoji{Emoji: "👍"})
	if want := `{"type":"emoji","emoji":"👍"}`; err != nil || string(out) != want {
		t.Errorf("ReactionTypeEmoji encodes as %s (%v), want %s", out, err, want)
	}
}

// TestSharedDiscriminator: members sharing a discriminator value are told
// apart by the fields present.
func TestSharedDiscriminator(t *testing.T) {
	tests := []struct {
		union, in string
		want      any
	}{
		{"InlineQueryResult", `{"type":"photo","id":"1","photo_url":"u","thumbnail_url":"t"}`, &InlineQueryResultPhoto{}},
		{"InlineQueryResult", `{"type":"photo","id":"1","photo_file_id":"f"}`, &InlineQueryResultCachedPhoto{}},
		{"InlineQueryResult", `{"type":"photo","id":"1"}`, &UnknownInlineQueryResult{}},
		{"InputMessageContent", `{"message_text":"hi"}`, &InputTextMessageContent{}},
		{"InputMessageContent", `{"latitude":1,"longitude":2}`, &InputLocationMessageContent{}},
		{"InputMessageContent", `{"latitude":1,"longitude":2,"title":"t","address":"a"}`, &InputVenueMessageContent{}},
		{"MaybeInaccessibleMessage", `{"chat":{"id":1,"type":"private"},"message_id":2,"date":0}`, &InaccessibleMessage{}},
		{"MaybeInaccessibleMessage", `{"chat":{"id":1,"type":"private"},"message_id":2,"date":3}`, &Message{}},
		{"ReplyMarkup", `{"remove_keyboard":true}`, &ReplyKeyboardRemove{}},
		{"ReplyMarkup", `{"keyboard":[[{"text":"a"}]]}`, &ReplyKeyboardMarkup{}},
	}
	unions := generatedUnions()
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := unions[tc.union].decode([]byte(tc.in))
			if err != nil || reflect.TypeOf(got) != reflect.TypeOf(tc.want) {
				t.Errorf("got %T (%v), want %T", got, err, tc.want)
			}
		})
	}
}

// TestUpdateUnknownFields: keys and update kinds Telegram adds later decode
// without error and are dropped.
func TestUpdateUnknownFields(t *testing.T) {
	in := `{"update_id":9,"zz_new_kind":{"x":1},"message":{"message_id":1,"date":2,"chat":{"id":3,"type":"zz_new_chat_type","zz":true},` +
		`"zz_new_content":[1,2],"forward_origin":{"type":"zz_new_origin","date":1},"reactions":null}}`
	var u Update
	if err := json.Unmarshal([]byte(in), &u); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if o, ok := u.Message.ForwardOrigin.(*UnknownMessageOrigin); !ok || o.Type != "zz_new_origin" {
		t.Errorf("forward_origin = %#v, want *UnknownMessageOrigin", u.Message.ForwardOrigin)
	}
	if got := unknownValues("update", reflect.ValueOf(u)); !slices.Equal(got, []string{"update.Message.ForwardOrigin"}) {
		t.Errorf("unknownValues = %q", got)
	}
	if u.Message.Chat.Type != "zz_new_chat_type" || u.Kind() != KindMessage {
		t.Errorf("chat type %q, kind %q", u.Message.Chat.Type, u.Kind())
	}
}

// payloadOf returns the one payload key of a raw update and its value.
func payloadOf(t *testing.T, data []byte) (string, map[string]any) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for k, v := range raw {
		if k != "update_id" {
			p, _ := v.(map[string]any)
			return k, p
		}
	}
	t.Fatal("update without payload")
	return "", nil
}

// lookupID follows a dotted path of keys in a raw object to a number.
func lookupID(obj map[string]any, path string) (int64, bool) {
	if path == "" {
		return 0, false
	}
	var cur any = obj
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		cur = m[k]
	}
	n, ok := cur.(float64)
	return int64(n), ok
}

// helperPaths says, per update kind, where the chat id and the sender's id
// are in the raw JSON payload: the independent expectation for Chat and
// Sender.
var helperPaths = map[string]struct{ chat, sender string }{
	"message": {"chat.id", "from.id"}, "edited_message": {"chat.id", "from.id"},
	"channel_post": {"chat.id", "from.id"}, "edited_channel_post": {"chat.id", "from.id"},
	"business_message": {"chat.id", "from.id"}, "edited_business_message": {"chat.id", "from.id"},
	"guest_message": {"chat.id", "from.id"}, "business_connection": {"user_chat_id", "user.id"},
	"deleted_business_messages": {"chat.id", ""}, "message_reaction": {"chat.id", "user.id"},
	"message_reaction_count": {"chat.id", ""}, "inline_query": {"", "from.id"},
	"chosen_inline_result": {"", "from.id"}, "callback_query": {"message.chat.id", "from.id"},
	"shipping_query": {"", "from.id"}, "pre_checkout_query": {"", "from.id"},
	"purchased_paid_media": {"", "from.id"}, "poll": {"", ""},
	"poll_answer": {"voter_chat.id", "user.id"}, "my_chat_member": {"chat.id", "from.id"},
	"chat_member": {"chat.id", "from.id"}, "chat_join_request": {"chat.id", "from.id"},
	"chat_boost": {"chat.id", "boost.source.user.id"}, "removed_chat_boost": {"chat.id", "source.user.id"},
	"managed_bot": {"", "user.id"},
}

// TestUpdateHelpers checks Kind, Chat and Sender on every sample against
// the raw JSON, and that every update kind of the spec is covered.
func TestUpdateHelpers(t *testing.T) {
	var specKinds []string
	for _, f := range testSchema(t).Types["Update"].Fields {
		if f.Name != "update_id" {
			specKinds = append(specKinds, f.Name)
		}
	}
	if !slices.Equal(UpdateKinds(), specKinds) {
		t.Errorf("UpdateKinds() = %q, spec %q", UpdateKinds(), specKinds)
	}
	for _, k := range specKinds {
		if _, ok := helperPaths[k]; !ok {
			t.Errorf("update kind %q has no expectation in helperPaths", k)
		}
		var u Update
		if err := json.Unmarshal([]byte(`{"update_id":1,"`+k+`":{}}`), &u); err != nil || u.Kind() != k {
			t.Errorf("Kind() of a %q update = %q (%v)", k, u.Kind(), err)
		}
	}
	seen := map[string]bool{}
	for name, data := range samples(t) {
		t.Run(name, func(t *testing.T) {
			key, payload := payloadOf(t, data)
			var u Update
			if err := json.Unmarshal(data, &u); err != nil {
				t.Fatal(err)
			}
			wantKind := key
			if !slices.Contains(specKinds, key) {
				wantKind = "" // a kind newer than the spec
			}
			if u.Kind() != wantKind {
				t.Errorf("Kind() = %q, want %q", u.Kind(), wantKind)
			}
			seen[u.Kind()] = true
			paths := helperPaths[key]
			if id, ok := lookupID(payload, paths.chat); ok != (u.Chat() != nil) || (ok && u.Chat().ID != id) {
				t.Errorf("Chat() = %+v, want id %d (present %v)", u.Chat(), id, ok)
			}
			if id, ok := lookupID(payload, paths.sender); ok != (u.Sender() != nil) || (ok && u.Sender().ID != id) {
				t.Errorf("Sender() = %+v, want id %d (present %v)", u.Sender(), id, ok)
			}
		})
	}
	for _, k := range specKinds {
		if !seen[k] {
			t.Errorf("no sample of update kind %q", k)
		}
	}
	var nilUpdate *Update
	if nilUpdate.Kind() != "" || nilUpdate.Chat() != nil || nilUpdate.Sender() != nil {
		t.Error("helpers of a nil *Update are not empty")
	}
}
