package webhook

import (
	"bytes"
	"testing"
	"testing/iotest"

	json "github.com/go-json-experiment/json/v1"

	"github.com/tidygram/tidygram/tg"
)

// FuzzWebhookBody checks the webhook body parser against the definition it
// implements: the body unmarshals whole (json.Unmarshal refuses trailing
// data), its first non-blank byte opens an object, and update_id is
// positive. Read one byte at a time or at once, decodeUpdate accepts
// exactly those bodies and decodes them as json.Unmarshal does.
func FuzzWebhookBody(f *testing.F) {
	for _, seed := range []string{
		`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"hi"}}`,
		" \r\n\t{\"update_id\":2} \n",
		`{"update_id":3}xyz`,
		`{"update_id":4},`,
		`{"update_id":5}{"update_id":6}`,
		"{\"update_id\":7}\n{\"update_id\":8}\n",
		`{"update_id":9,"message":{"text":"x`,
		``,
		` `,
		`null`,
		`[{"update_id":10}]`,
		`"update"`,
		`12`,
		`{"update_id":"13"}`,
		`{"update_id":14.5}`,
		`{"update_id":9223372036854775808}`,
		`{"update_id":15,"message":"hello"}`,
		`{"message":{}}`,
		`{"update_id":0}`,
		`{"update_id":-16}`,
		`{"update_id":17,"update_id":18}`,
		`{"update_id":19,"callback_query":{"id":"a","data":"\ud800"}}`,
		"{\"update_id\":20,\"message\":{\"text\":\"\xff\"}}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var want tg.Update
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		valid := json.Unmarshal(body, &want) == nil && len(trimmed) > 0 && trimmed[0] == '{' && want.UpdateID > 0
		for _, r := range []struct {
			name string
			got  func() (*tg.Update, error)
		}{
			{"at once", func() (*tg.Update, error) { return decodeUpdate(bytes.NewReader(body)) }},
			{"byte by byte", func() (*tg.Update, error) { return decodeUpdate(iotest.OneByteReader(bytes.NewReader(body))) }},
		} {
			u, err := r.got()
			if (err == nil) != valid {
				t.Fatalf("%s: %q: error %v, want accepted=%v", r.name, body, err, valid)
			}
			if err != nil {
				continue
			}
			a, errA := json.Marshal(u)
			b, errB := json.Marshal(&want)
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				t.Fatalf("%s: %q decoded as %s, json.Unmarshal gives %s (%v, %v)", r.name, body, a, b, errA, errB)
			}
		}
	})
}
