package boltstore

import (
	"errors"
	"time"

	"github.com/tidygram/tidygram/session"
)

// Defaults of the options.
const (
	// DefaultBucket is the bbolt bucket a Store keeps its values in.
	DefaultBucket = "tidygram.sessions"
	// DefaultOpenTimeout is how long Open waits for the file lock held by
	// another process.
	DefaultOpenTimeout = time.Second
)

// Option configures a Store (Open). An invalid value is an error from
// Open (a *session.OptionError), never clamped or replaced by a default.
type Option func(*config)

type config struct {
	bucket      string
	openTimeout time.Duration
	clock       func() time.Time
	errs        []error // invalid option values, in order
}

func newConfig(opts []Option) (config, error) {
	c := config{bucket: DefaultBucket, openTimeout: DefaultOpenTimeout, clock: time.Now}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c, errors.Join(c.errs...)
}

// invalid records an option value that cannot be used.
func (c *config) invalid(option string, value any, reason string) {
	c.errs = append(c.errs, &session.OptionError{Package: "boltstore", Option: option, Value: value, Reason: reason})
}

// WithBucket sets the bbolt bucket the store keeps its values in (default
// DefaultBucket; not empty).
func WithBucket(name string) Option {
	return func(c *config) {
		if name == "" {
			c.invalid("WithBucket", `""`, "must not be empty")
			return
		}
		c.bucket = name
	}
}

// WithOpenTimeout sets how long Open waits for a file lock held by
// another process (default DefaultOpenTimeout; more than 0).
func WithOpenTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid("WithOpenTimeout", d, "must be more than 0")
			return
		}
		c.openTimeout = d
	}
}

// WithClock sets the clock used for TTLs (default time.Now). Tests use it
// to expire values without sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.clock = now
		}
	}
}
