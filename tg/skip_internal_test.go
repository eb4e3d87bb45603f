package tg

import (
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

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
		{`{"update_id":1,"update_id":2}`, 0, false},               // the last counts
		{`{"update_id":1,"update\u005fid":2}`, 0, false},          // the same name, escaped
		{`{"update_id":1,"message":{"text":"\u0416"}}`, 0, false}, // any escape: decoded whole
	} {
		id, ok := leadingUpdateID([]byte(tt.in))
		if id != tt.id || ok != tt.ok {
			t.Errorf("leadingUpdateID(%q) = %d, %v; want %d, %v", tt.in, id, ok, tt.id, tt.ok)
		}
	}
}

// FuzzLeadingUpdateID: whenever the fast path reads an id from a valid
// JSON object, it is the update_id a full decode finds.
func FuzzLeadingUpdateID(f *testing.F) {
	for _, data := range samples(f) {
		f.Add(data)
	}
	f.Add([]byte(`{"update_id":1,"update_id":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, ok := leadingUpdateID(data)
		if !ok {
			return
		}
		var u struct {
			UpdateID int64 `json:"update_id"`
		}
		if err := json.Unmarshal(data, &u); err != nil {
			return // not valid JSON as a whole: the decoder reports it
		}
		if u.UpdateID != id {
			t.Fatalf("fast path read %d, full decode %d: %q", id, u.UpdateID, data)
		}
	})
}
