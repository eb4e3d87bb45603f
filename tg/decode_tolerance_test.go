package tg

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// A peer that writes odd but parseable JSON: updates as the Client decodes
// them from a getUpdates answer (internal/jsonopt's options). Duplicate
// names are taken (the last wins) and invalid UTF-8 is replaced by U+FFFD,
// as encoding/json does; a name in another case than the Bot API's is not
// that field (ignored, as any unknown name); a value of the wrong type
// fails the call with an error naming where it is, and nothing is passed on.
func TestDecodeOddUpdates(t *testing.T) {
	tests := []struct {
		name    string
		update  string // one element of the result array
		want    string // the message's text
		wantErr string
	}{
		{"duplicate name: the last wins", `{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"text":"first","text":"second"}}`, "second", ""},
		{"invalid UTF-8 replaced", "{\"update_id\":1,\"message\":{\"message_id\":1,\"date\":1,\"chat\":{\"id\":5,\"type\":\"private\"},\"text\":\"a\xffb\"}}", "a\uFFFDb", ""},
		{"a name in another case is not the field", `{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"Text":"shouted"}}`, "", ""},
		{"wrong type", `{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"text":5}}`, "", `/message/text"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
				writeAnswer(w, 200, `{"ok":true,"result":[`+tt.update+`]}`)
			})
			c := f.client(t)
			var ups []*Update
			_, err := c.GetUpdatesFunc(context.Background(), nil, nil, func(u *Update) error {
				ups = append(ups, u)
				return nil
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || len(ups) != 0 {
					t.Fatalf("got %d updates, error %v; want none and an error naming %s", len(ups), err, tt.wantErr)
				}
				return
			}
			if err != nil || len(ups) != 1 || ups[0].Message == nil {
				t.Fatalf("got %d updates, error %v; want the update", len(ups), err)
			}
			if got := ups[0].Message.Text; got != tt.want {
				t.Fatalf("text %q, want %q", got, tt.want)
			}
		})
	}
}
