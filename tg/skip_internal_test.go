package tg

import "testing"

func TestLeadingUpdateID(t *testing.T) {
	for _, tt := range []struct {
		in string
		id int64
		ok bool
	}{
		{`{"update_id":123,"message":{}}`, 123, true},
		{` { "update_id" : 7 } `, 7, true},
		{"{\n\t\"update_id\":\r\n42,\"x\":1}", 42, true},
		{`{"update_id":-5}`, -5, true},
		{`{"update_id":9223372036854775807}`, 9223372036854775807, true},
		{`{"update_id":9223372036854775808}`, 0, false}, // overflows
		{`{"update_id":1.5}`, 0, false},
		{`{"update_id":1e3}`, 0, false},
		{`{"update_id":012}`, 0, false},
		{`{"update_id":"1"}`, 0, false},
		{`{"update_id":}`, 0, false},
		{`{"message":{},"update_id":3}`, 0, false}, // not first: decoded whole
		{`{"update_idx":3}`, 0, false},
		{`[1]`, 0, false},
		{``, 0, false},
		{`{"update_id":3`, 0, false},
		{`{"update_id":1,"update_id":2}`, 0, false},                          // the last counts
		{`{"update_id":1,"message":{},"update_id":2}`, 0, false},             // after other members too
		{`{"update_id":1,"update\u005fid":2}`, 0, false},                     // the same name, escaped
		{`{"update_id":1,"a\u0062":2}`, 0, false},                            // any escape in a name: decoded whole
		{`{"update_id":1,"message":{"text":"\u0416"}}`, 1, true},             // escapes in values do not matter
		{`{"update_id":1,"message":{"update_id":2}}`, 1, true},               // a nested name is not the update's
		{`{"update_id":1,"message":{"text":"\"update_id\":2"}}`, 1, true},    // nor a string's content
		{`{"update_id":1,"message":{"text":"a\\"},"update_id":2}`, 0, false}, // an escaped backslash ends the string
		{`{"update_id":1,"x":[1,{"y":"]}"},null],"z":true}`, 1, true},
		{`{"update_id":1,"x":"unterminated}`, 0, false},
		{`{"update_id":1,"x":{"y":1}`, 0, false},
		{`{"update_id":1,"x"}`, 0, false},
		{`{"update_id":1,}`, 0, false},
	} {
		id, ok := leadingUpdateID([]byte(tt.in))
		if id != tt.id || ok != tt.ok {
			t.Errorf("leadingUpdateID(%q) = %d, %v; want %d, %v", tt.in, id, ok, tt.id, tt.ok)
		}
	}
}

// FuzzLeadingUpdateID: whenever the fast path reads an id from a valid
// JSON object, it is the update_id a full decode with the Client's own
// options finds.
func FuzzLeadingUpdateID(f *testing.F) {
	for _, data := range samples(f) {
		f.Add(data)
	}
	f.Add([]byte(`{"update_id":1,"update_id":2}`))
	f.Add([]byte(`{"update_id":1,"message":{"text":"\u0416","update_id":3},"update\u005fid":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, ok := leadingUpdateID(data)
		if !ok {
			return
		}
		var u struct {
			UpdateID int64 `json:"update_id"`
		}
		if err := unmarshal(data, &u); err != nil {
			return // not valid JSON as a whole: the decoder reports it
		}
		if u.UpdateID != id {
			t.Fatalf("fast path read %d, full decode %d: %q", id, u.UpdateID, data)
		}
	})
}
