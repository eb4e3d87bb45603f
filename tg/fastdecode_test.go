package tg

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// fastDecodeCases are inputs where the generated decodeFast could part from
// the JSON engine: every shape its helpers read directly, and every way
// they hand a value back to the engine.
var fastDecodeCases = []string{
	`{"update_id":1,"message":{"message_id":2,"date":3,"chat":{"id":-1001234567890,"type":"supergroup","title":"t"},"from":{"id":4,"is_bot":true,"first_name":"a"},"text":"hi"}}`,
	// duplicate names: the last counts, objects merge
	`{"update_id":1,"update_id":2,"message":{"message_id":1,"chat":{"id":1},"chat":{"type":"private"},"from":{"id":1},"from":{"first_name":"b"},"text":"a","text":"b"}}`,
	// escapes in names and values, invalid UTF-8, non-ASCII
	`{"update_id":1,"message":{"t\u0065xt":"x\ny\u00e9\ud83d\ude00","chat":{"id":1,"first_name":"` + "\xff\xfe" + `","username":"пример"}}}`,
	// null for every shape
	`{"update_id":null,"message":{"message_id":null,"text":null,"chat":null,"from":null,"is_topic_message":null,"forward_origin":null,"entities":null}}`,
	`{"update_id":1,"message":null,"callback_query":null}`,
	// numbers the fast path leaves to the engine, or refuses
	`{"update_id":1.0}`, `{"update_id":1e3}`, `{"update_id":-0}`, `{"update_id":123456789012345678}`,
	`{"update_id":9223372036854775807}`, `{"update_id":-9223372036854775808}`, `{"update_id":9223372036854775808}`,
	`{"update_id":1,"message":{"message_id":12345678901234567890}}`,
	// wrong kinds
	`{"update_id":"1"}`, `{"update_id":1,"message":{"text":5}}`, `{"update_id":1,"message":{"chat":[]}}`,
	`{"update_id":1,"message":{"from":"x"}}`, `{"update_id":1,"message":{"from":{"is_bot":"yes"}}}`,
	`{"update_id":1,"message":{"entities":[{"type":"bold","offset":"0","length":1}]}}`,
	`{"update_id":1,"message":[]}`, `[]`, `"x"`, `null`, `{}`,
	// names of another case are not the field's; unknown members of every kind are skipped
	`{"Update_ID":1,"MESSAGE":{"text":"x"},"x":[1,{"a":null}],"y":{"z":[]},"w":"q"}`,
	// unions: raw, null, unknown member, a bad one
	`{"update_id":1,"message":{"forward_origin":{"type":"user","date":1,"sender_user":{"id":1,"is_bot":false,"first_name":"a"}},"pinned_message":{"chat":{"id":1,"type":"private"},"message_id":1,"date":0}}}`,
	`{"update_id":1,"message":{"forward_origin":{"type":"zz","x":[1,2]},"forward_origin":{"type":"hidden_user","date":1,"sender_user_name":"n"}}}`,
	`{"update_id":1,"message":{"forward_origin":5}}`,
	`{"update_id":1,"callback_query":{"id":"1","from":{"id":1,"is_bot":false,"first_name":"a"},"chat_instance":"c","message":{"chat":{"id":1,"type":"private"},"message_id":1,"date":0},"data":"d"}}`,
	// a field of another type inside a fast one, and slices of fast ones
	`{"update_id":1,"message":{"photo":[{"file_id":"a","file_unique_id":"b","width":1,"height":1}],"entities":[{"type":"url","offset":0,"length":3},{"type":"text_link","offset":1,"length":1,"url":"u","user":{"id":1}}],"reply_to_message":{"text":"r","reply_to_message":{"text":"rr"}}}}`,
}

// decodeBoth decodes data as the poller does (through fastUpdate: with
// decodeFast) and as tg did before (the JSON engine alone), from its bytes
// or from a stream read a byte at a time.
func decodeBoth(data []byte, stream bool) (fast, engine Update, fastErr, engineErr error) {
	if !stream {
		return fast, engine, unmarshal(data, (*fastUpdate)(&fast)), unmarshal(data, &engine)
	}
	fastErr = decodeFrom(jsontext.NewDecoder(&oneByteReader{data: data}, decodeOpts), (*fastUpdate)(&fast))
	engineErr = decodeFrom(jsontext.NewDecoder(&oneByteReader{data: data}, decodeOpts), &engine)
	return fast, engine, fastErr, engineErr
}

type oneByteReader struct{ data []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0], r.data = r.data[0], r.data[1:]
	return 1, nil
}

// sameDecoding fails t when decodeFast and the engine disagree on data:
// both fail or both give the same Update; a semantic error names the same
// place.
func sameDecoding(t *testing.T, data []byte) {
	t.Helper()
	for _, stream := range []bool{false, true} {
		got, want, err, wantErr := decodeBoth(data, stream)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("stream %v: decodeFast error %v, the engine's %v\ninput: %q", stream, err, wantErr, data)
		}
		if wantErr != nil {
			var se, wse *jsonv2.SemanticError
			if errors.As(wantErr, &wse) && wse.JSONPointer != "" && (!errors.As(err, &se) || se.JSONPointer != wse.JSONPointer) {
				t.Fatalf("stream %v: decodeFast error %v, want one at %q like the engine's %v\ninput: %q", stream, err, wse.JSONPointer, wantErr, data)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("stream %v: decodeFast gave\n%#v\nthe engine\n%#v\ninput: %q", stream, got, want, data)
		}
	}
}

// TestFastDecodeAsEngine: decodeFast decodes every sample update and every
// odd case as the JSON engine does, errors included.
func TestFastDecodeAsEngine(t *testing.T) {
	for name, data := range samples(t) {
		t.Run(name, func(t *testing.T) { sameDecoding(t, data) })
	}
	for _, c := range fastDecodeCases {
		t.Run(c, func(t *testing.T) { sameDecoding(t, []byte(c)) })
	}
}

// FuzzFastDecode: decodeFast and the JSON engine agree on any input.
func FuzzFastDecode(f *testing.F) {
	for _, data := range samples(f) {
		f.Add(data)
	}
	for _, c := range fastDecodeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		sameDecoding(t, data)
	})
}

// BenchmarkDecodeTextMessageFast decodes the text message sample as the
// poller does (BenchmarkDecodeTextMessage: the engine alone).
func BenchmarkDecodeTextMessageFast(b *testing.B) {
	data := samples(b)["010_message_text.json"]
	var r bytes.Reader
	dec := jsontext.NewDecoder(&r, decodeOpts)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(data)
		dec.Reset(&r, decodeOpts)
		var u Update
		if err := decodeFrom(dec, (*fastUpdate)(&u)); err != nil {
			b.Fatal(err)
		}
	}
}
