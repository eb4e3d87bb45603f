package tgtest

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzEachField checks the single-pass object reader against
// encoding/json: it accepts exactly the valid JSON objects (when every
// value is validated) and yields the same members.
func FuzzEachField(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"chat_id":-100123,"text":"hi \"there\" \u00e9","entities":[{"type":"bold","offset":0,"length":2}]}`,
		`{"a":{"b":[1,2,{"c":"}"}]},"d":null,"e":true}`, `{"a":1,}`, `{"a"}`, `{"a":tru}`, `[1]`, `{"a":"\x"}`, `{"a":1}x`, `{"k":"v","k":"w"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := map[string]string{}
		err := eachField(b, func(k string, raw []byte) error {
			if err := checkRaw(raw); err != nil {
				return err
			}
			got[k] = string(raw)
			return nil
		})
		var want map[string]json.RawMessage
		werr := json.Unmarshal(b, &want)
		valid := werr == nil && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))
		if (err == nil) != valid {
			t.Fatalf("eachField err=%v, encoding/json err=%v for %q", err, werr, b)
		}
		if !valid {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("members %v vs %v", got, want)
		}
		for k, v := range want {
			var a, b2 any
			json.Unmarshal(v, &a)
			json.Unmarshal([]byte(got[k]), &b2)
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b2)
			if !bytes.Equal(ja, jb) {
				t.Fatalf("member %q: %s vs %s", k, got[k], v)
			}
		}
	})
}

// FuzzFormJSON checks that any form body becomes a JSON object whose
// string members keep the submitted text.
func FuzzFormJSON(f *testing.F) {
	for _, seed := range []string{"chat_id=1&text=hi", "text=%7B%22a%22%3A1%7D", "reply_markup=%7B%22inline_keyboard%22%3A%5B%5D%7D&x=", "a=1e5&b=-0&c=true&d=null", "t=%22q%22"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, form string) {
		vals, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		b := formJSON(&buf, vals)
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Fatalf("formJSON(%q) = %s: %v", form, b, err)
		}
		for k, vs := range vals {
			if !utf8.ValidString(k) || !utf8.ValidString(vs[len(vs)-1]) {
				continue // JSON text is UTF-8: invalid bytes become U+FFFD
			}
			raw, ok := obj[k]
			if !ok {
				t.Fatalf("key %q lost", k)
			}
			var p strParam
			if err := p.UnmarshalJSON(raw); err != nil {
				t.Fatal(err)
			}
			if raw[0] == '"' && string(p) != vs[len(vs)-1] {
				t.Fatalf("value %q became %q", vs[len(vs)-1], p)
			}
		}
	})
}

// FuzzPushRaw feeds arbitrary bytes to PushRaw: it must never panic, and
// whatever it accepts must come out of getUpdates as valid JSON with the
// assigned update_id.
func FuzzPushRaw(f *testing.F) {
	for _, name := range []string{"001_message_command.json", "109_inline_query.json", "112_callback_query.json", "128_chat_member.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"message":{"message_id":"x","chat":{"id":"@a"}}}`))
	f.Add([]byte(`{"poll":null}`))
	s := NewServer()
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, err := s.PushRaw(raw)
		if err != nil || id == 0 {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		out := encodeUpdates(s.collect(100))
		s.confirm(id + 1)
		var ups []map[string]json.RawMessage
		if err := json.Unmarshal(out, &ups); err != nil || len(ups) != 1 {
			t.Fatalf("getUpdates body %s: %v", out, err)
		}
		if string(ups[0]["update_id"]) != strconv.FormatInt(id, 10) {
			t.Fatalf("update_id %s, want %d", ups[0]["update_id"], id)
		}
	})
}
