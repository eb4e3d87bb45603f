package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tidygram/tidygram/session"
)

// TestSessionOptionsValidated: an option value a Session or Conversation
// cannot use is an *OptionError naming it, reported by Err at once and
// returned by every operation; it is never replaced by a default.
func TestSessionOptionsValidated(t *testing.T) {
	tests := []struct {
		name   string
		opts   []session.Option
		option string // "" when valid
	}{
		{"defaults", nil, ""},
		{"ttl", []session.Option{session.WithTTL(time.Hour)}, ""},
		{"ttl 0", []session.Option{session.WithTTL(0)}, "WithTTL"},
		{"negative ttl", []session.Option{session.WithTTL(-time.Second)}, "WithTTL"},
		{"nil codec", []session.Option{session.WithCodec(nil)}, "WithCodec"},
		{"nil key", []session.Option{session.WithKey(nil)}, "WithKey"},
		{"nil clock", []session.Option{session.WithClock(nil)}, "WithClock"},
		{"empty prefix", []session.Option{session.WithPrefix("")}, ""},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := session.NewMemory()
			s := session.New[int](store, tt.opts...)
			conv := session.NewConversation[int, string](store, "start", tt.opts...)
			if tt.option == "" {
				if s.Err() != nil || conv.Err() != nil {
					t.Fatalf("Err = %v, %v; want nil", s.Err(), conv.Err())
				}
				if err := s.Save(ctx, "k", 1); err != nil {
					t.Fatal(err)
				}
				return
			}
			key := s.Key(1, 2)
			_, loadErr := s.Load(ctx, key)
			_, openErr := s.Open(ctx, key)
			_, _, curErr := conv.Current(ctx, conv.Key(1, 2))
			for _, err := range []error{
				s.Err(), conv.Err(), loadErr, openErr, curErr,
				s.Save(ctx, key, 1), s.Delete(ctx, key),
				s.Do(ctx, key, func(context.Context, *int) error { return nil }),
				conv.Enter(ctx, conv.Key(1, 2), "start"),
				conv.Reset(ctx, conv.Key(1, 2)),
			} {
				var oe *session.OptionError
				if !errors.As(err, &oe) || oe.Option != tt.option {
					t.Fatalf("err = %v, want an *OptionError for %s", err, tt.option)
				}
			}
			if n := store.Len(); n != 0 {
				t.Fatalf("store holds %d entries, want none written", n)
			}
		})
	}
}

// TestStoreClockValidated: WithClock(nil) on a Memory store is an
// *OptionError too, not time.Now.
func TestStoreClockValidated(t *testing.T) {
	m := session.NewMemory(session.WithClock(nil))
	var oe *session.OptionError
	if !errors.As(m.Err(), &oe) || oe.Option != "WithClock" {
		t.Fatalf("Err = %v, want an *OptionError for WithClock", m.Err())
	}
}
