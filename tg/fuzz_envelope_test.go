package tg

import (
	"errors"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

// FuzzEnvelope: decoding any body with any status never panics, yields nil
// only for "ok":true with a 2xx status, an *APIError for every JSON object
// with "ok":false, a *ResponseError otherwise, and never shows the token.
func FuzzEnvelope(f *testing.F) {
	seeds := []string{
		`{"ok":true,"result":{"message_id":42,"text":"hi"}}`,
		`{"ok":true,"result":true}`,
		`{"ok":true,"result":null}`,
		`{"ok":true}`,
		`{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`,
		`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`,
		`{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234567890123}}`,
		`{"ok":false,"parameters":{"retry_after":-5}}`,
		`{"ok":false,"parameters":{"retry_after":99999999999999999}}`,
		`{"ok":false,"error_code":"x","result":"wrong"}`,
		`{"ok":false,"description":"` + testToken + `"}`,
		`{"OK":false}`,
		`{"ok":true,"ok":false}`,
		`{"ok":null}`,
		`{"ok":"true"}`,
		`{"ok":true,"result":"a string"}`,
		`{"ok":true,"result":{"message_`,
		`<html><head><title>502 Bad Gateway</title></head><body>/bot` + testToken + `/getMe</body></html>`,
		``, `null`, `[]`, `"ok"`, `{}`, `{"result":{}}`,
	}
	for _, s := range seeds {
		for _, status := range []int{200, 400, 502} {
			f.Add(status, []byte(s))
		}
	}
	red := newRedactor(testToken)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		var got testMessage
		err := decodeEnvelope("sendMessage", status, body, &got, red)
		errDiscard := decodeEnvelope("sendMessage", status, body, nil, red)

		var probe struct {
			OK *bool `json:"ok"`
		}
		isObject := json.Unmarshal(body, &probe) == nil
		okTrue := isObject && probe.OK != nil && *probe.OK
		okFalse := isObject && probe.OK != nil && !*probe.OK

		if err == nil && !(okTrue && status >= 200 && status <= 299) {
			t.Fatalf("nil error for status %d, body %q", status, body)
		}
		if errDiscard == nil && !(okTrue && status >= 200 && status <= 299) {
			t.Fatalf("nil error (result discarded) for status %d, body %q", status, body)
		}
		var ae *APIError
		var re *ResponseError
		for _, e := range []error{err, errDiscard} {
			if e == nil {
				continue
			}
			if okFalse && !errors.As(e, &ae) {
				t.Fatalf(`"ok":false gave %T %v, want *APIError`, e, e)
			}
			if !errors.As(e, &ae) && !errors.As(e, &re) {
				t.Fatalf("error of type %T: %v", e, e)
			}
			if ae != nil && ae.RetryAfter < 0 {
				t.Fatalf("negative RetryAfter %v", ae.RetryAfter)
			}
			if strings.Contains(e.Error(), testToken) {
				t.Fatalf("error holds the token: %v", e)
			}
		}
	})
}
