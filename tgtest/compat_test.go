package tgtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Requests real Telegram accepts from other client libraries.
func TestClientQuirksAccepted(t *testing.T) {
	s := NewServer(WithTB(t))
	if i := strings.IndexByte(s.Token(), ':'); len(s.Token())-i-1 != 35 {
		t.Errorf("default token %q: want 35 characters after the colon, as Telegram's", s.Token())
	}
	tests := []struct {
		name, method, ctype, body string
	}{
		{"empty multipart getMe", "getMe", "multipart/form-data; boundary=xyz", ""},
		{"JSON null body", "getMe", "application/json", "null"},
		{"allowed_updates as the string null", "getUpdates", "application/json", `{"allowed_updates":"null","timeout":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(s.URL()+"/bot"+s.Token()+"/"+tt.method, tt.ctype, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"ok":true`) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
}
