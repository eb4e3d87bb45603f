package session

import (
	"errors"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"time"
)

// Defaults of the options.
const (
	// DefaultTTL is how long a Session value lives after it was last saved.
	DefaultTTL = 24 * time.Hour
	// DefaultConversationTimeout is how long a Conversation waits at a
	// step before it falls back to its start step.
	DefaultConversationTimeout = 10 * time.Minute
	// DefaultMaxEntries is the capacity of a Memory store in entries.
	DefaultMaxEntries = 100_000
	// DefaultMaxBytes is the capacity of a Memory store in bytes of keys
	// and values (64 MiB).
	DefaultMaxBytes = 64 << 20
	// DefaultMaxKeyBytes is the longest key a Memory store accepts (1 KiB;
	// the keys ChatUserKey builds, prefix included, are under 50 bytes).
	DefaultMaxKeyBytes = 1 << 10
	// DefaultMaxValueBytes is the largest value a Memory store accepts
	// (1 MiB), unless its byte capacity less DefaultMaxKeyBytes is smaller.
	DefaultMaxValueBytes = 1 << 20
	// DefaultShards is the number of lock shards of a Memory store.
	DefaultShards = 16
)

// Codec turns session values into bytes and back.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSONCodec is the default Codec: encoding/json.
type JSONCodec struct{}

// Marshal implements Codec.
func (JSONCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal implements Codec.
func (JSONCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Option configures a Session (New) or a Conversation (NewConversation).
// An invalid value is an *OptionError, never clamped or replaced by a
// default: the Session or Conversation built with it reports it from Err
// at once and returns it from every operation, as NewMemory does.
type Option interface{ applySession(*sessionConfig) }

// StoreOption configures a Memory store (NewMemory).
type StoreOption interface{ applyStore(*storeConfig) }

type sessionConfig struct {
	ttl    time.Duration
	codec  Codec
	key    KeyFunc
	prefix string
	clock  func() time.Time
	errs   optionErrs
}

// optionErrs are the invalid option values a config was given, in order.
type optionErrs []error

// invalid records an option value that cannot be used.
func (e *optionErrs) invalid(option string, value any, reason string) {
	*e = append(*e, &OptionError{Package: "session", Option: option, Value: value, Reason: reason})
}

type storeConfig struct {
	clock         func() time.Time
	maxEntries    int
	maxBytes      int
	maxKeyBytes   int
	maxValueBytes int
	valueSet      bool // WithMaxValueBytes was given
	shards        int
	errs          optionErrs
}

type sessionOption func(*sessionConfig)

func (o sessionOption) applySession(c *sessionConfig) { o(c) }

type storeOption func(*storeConfig)

func (o storeOption) applyStore(c *storeConfig) { o(c) }

// WithTTL sets how long a saved value lives (Session, default DefaultTTL)
// or how long a Conversation waits at a step (default
// DefaultConversationTimeout). It must be positive: a ttl <= 0 is an
// *OptionError (see Option).
func WithTTL(ttl time.Duration) Option {
	return sessionOption(func(c *sessionConfig) {
		if ttl <= 0 {
			c.errs.invalid("WithTTL", ttl, "must be positive")
			return
		}
		c.ttl = ttl
	})
}

// WithCodec sets the codec of values (default JSONCodec). A nil codec is
// an *OptionError (see Option).
func WithCodec(codec Codec) Option {
	return sessionOption(func(c *sessionConfig) {
		if codec == nil {
			c.errs.invalid("WithCodec", nil, "needs a Codec (JSONCodec is the default)")
			return
		}
		c.codec = codec
	})
}

// WithKey sets the KeyFunc that Session.Key and Conversation.Key use
// (default ChatUserKey). A nil key is an *OptionError (see Option).
func WithKey(key KeyFunc) Option {
	return sessionOption(func(c *sessionConfig) {
		if key == nil {
			c.errs.invalid("WithKey", nil, "needs a KeyFunc (ChatUserKey is the default)")
			return
		}
		c.key = key
	})
}

// WithPrefix sets the prefix of every key that Session.Key and
// Conversation.Key build, so that several sessions can share a store
// (default "s:" for a Session, "conv:" for a Conversation).
func WithPrefix(prefix string) Option {
	return sessionOption(func(c *sessionConfig) { c.prefix = prefix })
}

// Invalid store option values are errors, never clamped or replaced by a
// default: see OptionError.

// WithMaxEntries sets the capacity of a Memory store in entries (default
// DefaultMaxEntries; at least 1). When a new key would exceed it, the
// least recently used entry of the key's shard is evicted.
func WithMaxEntries(n int) StoreOption {
	return atLeast("WithMaxEntries", n, 1, func(c *storeConfig) { c.maxEntries = n })
}

// WithMaxBytes sets the capacity of a Memory store in bytes, counting
// the length of every key and value held (default DefaultMaxBytes; more
// than the key limit). When a Set would exceed it, least recently used
// entries of the key's shard are evicted until the new value fits.
func WithMaxBytes(n int) StoreOption {
	return atLeast("WithMaxBytes", n, 1, func(c *storeConfig) { c.maxBytes = n })
}

// WithMaxKeyBytes sets the longest key a Memory store accepts (default
// DefaultMaxKeyBytes; at least 1). Longer keys are refused with a
// *SizeError (ErrTooLarge).
func WithMaxKeyBytes(n int) StoreOption {
	return atLeast("WithMaxKeyBytes", n, 1, func(c *storeConfig) { c.maxKeyBytes = n })
}

// WithMaxValueBytes sets the largest value a Memory store accepts
// (default DefaultMaxValueBytes, or WithMaxBytes less the key limit if
// that is smaller; at least 0, and the key limit plus it must not exceed
// WithMaxBytes). Larger values are refused with a *SizeError
// (ErrTooLarge).
func WithMaxValueBytes(n int) StoreOption {
	return atLeast("WithMaxValueBytes", n, 0, func(c *storeConfig) { c.maxValueBytes, c.valueSet = n, true })
}

// WithShards sets the number of lock shards of a Memory store (default
// DefaultShards; at least 1). A store has no more shards than entries,
// nor more than hold a largest entry (key and value at their limits)
// each, since every shard keeps its share of both capacities. LRU order
// is kept per shard; one shard gives exact LRU order over the whole store
// at the cost of one lock.
func WithShards(n int) StoreOption {
	return atLeast("WithShards", n, 1, func(c *storeConfig) { c.shards = n })
}

// atLeast returns the option that calls set when n >= lowest and records
// an *OptionError otherwise.
func atLeast(name string, n, lowest int, set func(*storeConfig)) StoreOption {
	return storeOption(func(c *storeConfig) {
		if n < lowest {
			c.errs.invalid(name, n, fmt.Sprintf("must be at least %d", lowest))
			return
		}
		set(c)
	})
}

// ClockOption is returned by WithClock; it configures stores and
// conversations alike.
type ClockOption func() time.Time

func (o ClockOption) applySession(c *sessionConfig) { o.apply(&c.clock, &c.errs) }
func (o ClockOption) applyStore(c *storeConfig)     { o.apply(&c.clock, &c.errs) }

// apply sets *clock to o, refusing a nil o.
func (o ClockOption) apply(clock *func() time.Time, errs *optionErrs) {
	if o == nil {
		errs.invalid("WithClock", nil, "needs a func (time.Now is the default)")
		return
	}
	*clock = o
}

// WithClock sets the clock used for TTLs and timeouts (default time.Now).
// Tests use it to expire values without sleeping. A nil now is an
// *OptionError (see Option and NewMemory).
func WithClock(now func() time.Time) ClockOption { return ClockOption(now) }

func newSessionConfig(prefix string, ttl time.Duration, opts []Option) sessionConfig {
	c := sessionConfig{ttl: ttl, codec: JSONCodec{}, key: ChatUserKey, prefix: prefix, clock: time.Now}
	for _, o := range opts {
		o.applySession(&c)
	}
	return c
}

func newStoreConfig(opts []StoreOption) storeConfig {
	c := storeConfig{
		clock:         time.Now,
		maxEntries:    DefaultMaxEntries,
		maxBytes:      DefaultMaxBytes,
		maxKeyBytes:   DefaultMaxKeyBytes,
		maxValueBytes: DefaultMaxValueBytes,
		shards:        DefaultShards,
	}
	for _, o := range opts {
		if o != nil {
			o.applyStore(&c)
		}
	}
	return c
}

// err returns the invalid option values, joined, or nil.
func (c *storeConfig) err() error { return errors.Join(c.errs...) }

// memoryErr checks the options that only a Memory store reads against
// each other, and derives the default value limit. It returns c.err()
// too.
func (c *storeConfig) memoryErr() error {
	if len(c.errs) > 0 {
		return c.err()
	}
	if c.maxKeyBytes >= c.maxBytes {
		c.errs.invalid("WithMaxBytes", c.maxBytes, fmt.Sprintf("must be more than the key limit (%d bytes)", c.maxKeyBytes))
		return c.err()
	}
	switch room := c.maxBytes - c.maxKeyBytes; {
	case !c.valueSet:
		c.maxValueBytes = min(DefaultMaxValueBytes, room)
	case c.maxValueBytes > room:
		c.errs.invalid("WithMaxValueBytes", c.maxValueBytes, fmt.Sprintf("must be at most WithMaxBytes less the key limit (%d bytes): such a value could never be stored", room))
	}
	return c.err()
}
