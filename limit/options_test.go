package limit

import (
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/opterr/opterrtest"
)

// TestOptionsValidated: an option value New or NewLocal cannot use is an
// *OptionError naming the option, never clamped or replaced by a default.
func TestOptionsValidated(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Option
		option string // "" when valid
	}{
		{"defaults", nil, ""},
		{"nil limiter disables flood control", []Option{WithLimiter(nil)}, ""},
		{"retries 0", []Option{WithRetries(0)}, ""},
		{"negative retries", []Option{WithRetries(-1)}, "WithRetries"},
		{"nil counted", []Option{WithCounted(nil)}, "WithCounted"},
		{"nil idempotent", []Option{WithIdempotent(nil)}, "WithIdempotent"},
		{"backoff min 0", []Option{WithBackoff(0, time.Second)}, "WithBackoff"},
		{"backoff max below min", []Option{WithBackoff(time.Second, time.Millisecond)}, "WithBackoff"},
		{"backoff min = max", []Option{WithBackoff(time.Second, time.Second)}, ""},
		{"max retry_after 0", []Option{WithMaxRetryAfter(0)}, "WithMaxRetryAfter"},
		{"negative max retry_after", []Option{WithMaxRetryAfter(-time.Second)}, "WithMaxRetryAfter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctl, err := New(tt.opts...)
			opterrtest.Check(t, err, ctl == nil, tt.option)
		})
	}
}

// TestLocalOptionsValidated is TestOptionsValidated for NewLocal.
func TestLocalOptionsValidated(t *testing.T) {
	tests := []struct {
		name   string
		opts   []LocalOption
		option string // "" when valid
	}{
		{"defaults", nil, ""},
		{"zero rules do not limit", []LocalOption{WithGlobal(Rule{}), WithChat(Rule{}), WithGroup(Rule{})}, ""},
		{"negative global every", []LocalOption{WithGlobal(Rule{Every: -1})}, "WithGlobal"},
		{"negative chat burst", []LocalOption{WithChat(Rule{Every: time.Second, Burst: -1})}, "WithChat"},
		{"negative group every", []LocalOption{WithGroup(Rule{Every: -time.Second})}, "WithGroup"},
		{"max chats 0", []LocalOption{WithMaxChats(0)}, "WithMaxChats"},
		{"negative max chats", []LocalOption{WithMaxChats(-5)}, "WithMaxChats"},
		{"max chats 1", []LocalOption{WithMaxChats(1)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLocal(tt.opts...)
			opterrtest.Check(t, err, l == nil, tt.option)
		})
	}
}
