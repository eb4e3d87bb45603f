package dispatch

import (
	"errors"
	"testing"
	"time"
)

// TestNewValidates: zero fields take the documented defaults; a negative
// field or a QueueSize below Workers is a *ConfigError naming the field,
// never clamped.
func TestNewValidates(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		field     string // "" when valid
		workers   int
		queueSize int
	}{
		{"zero value", Config{}, "", DefaultWorkers, DefaultQueueSize},
		{"workers above the default queue", Config{Workers: 2000}, "", 2000, 2000},
		{"queue equal to workers", Config{Workers: 4, QueueSize: 4}, "", 4, 4},
		{"negative workers", Config{Workers: -1}, "Workers", 0, 0},
		{"negative queue", Config{QueueSize: -1}, "QueueSize", 0, 0},
		{"queue below workers", Config{Workers: 8, QueueSize: 4}, "QueueSize", 0, 0},
		{"queue below default workers", Config{QueueSize: 4}, "QueueSize", 0, 0},
		{"negative idle timeout", Config{IdleTimeout: -time.Second}, "IdleTimeout", 0, 0},
		{"negative timeout", Config{Timeout: -1}, "Timeout", 0, 0},
		{"negative deadline", Config{Deadline: -1}, "Deadline", 0, 0},
		{"negative drain", Config{Drain: -1}, "Drain", 0, 0},
		{"negative stop grace", Config{StopGrace: -1}, "StopGrace", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("New = %v, want no error", err)
				}
				if p.Workers() != tt.workers || p.Cap() != tt.queueSize {
					t.Fatalf("workers %d, queue %d; want %d, %d", p.Workers(), p.Cap(), tt.workers, tt.queueSize)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field || p != nil {
				t.Fatalf("New = %v, %v; want a *ConfigError for %s", p, err, tt.field)
			}
		})
	}
}
