package tg

import (
	"bytes"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

// FuzzUpdateDecode: decoding any input must not panic, and a decoded
// Update must encode, decode again and encode to the same bytes. Seeded
// with every sample of testdata/updates.
func FuzzUpdateDecode(f *testing.F) {
	for _, data := range samples(f) {
		f.Add(data)
	}
	f.Add([]byte(`{"update_id":1,"callback_query":{"id":"1","from":{"id":1,"is_bot":false,"first_name":"a"},"chat_instance":"c","message":{"chat":{"id":1,"type":"private"},"message_id":1,"date":0}}}`))
	f.Add([]byte(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"forward_origin":{"type":"zz","x":[1, 2]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var u Update
		if err := json.Unmarshal(data, &u); err != nil {
			return
		}
		first, err := json.Marshal(&u)
		if err != nil {
			t.Fatalf("encoding a decoded update: %v\ninput: %q", err, data)
		}
		var again Update
		if err := json.Unmarshal(first, &again); err != nil {
			t.Fatalf("decoding our own encoding: %v\nencoded: %s", err, first)
		}
		second, err := json.Marshal(&again)
		if err != nil || !bytes.Equal(first, second) {
			t.Fatalf("not stable (%v):\nfirst:  %s\nsecond: %s", err, first, second)
		}
	})
}
