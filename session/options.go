package session

import (
	"encoding/json"
	"time"
)

// Defaults of the options.
const (
	// DefaultTTL is how long a Session value lives after it was last saved.
	DefaultTTL = 24 * time.Hour
	// DefaultConversationTimeout is how long a Conversation waits at a
	// step before it falls back to its start step.
	DefaultConversationTimeout = 10 * time.Minute
	// DefaultMaxEntries is the capacity of a Memory store.
	DefaultMaxEntries = 100_000
	// DefaultShards is the number of lock shards of a Memory store.
	DefaultShards = 16
	// DefaultBucket is the bbolt bucket a Bolt store keeps its values in.
	DefaultBucket = "tidygram.sessions"
	// DefaultOpenTimeout is how long OpenBolt waits for the file lock
	// held by another process.
	DefaultOpenTimeout = time.Second
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
type Option interface{ applySession(*sessionConfig) }

// StoreOption configures a store (NewMemory, OpenBolt).
type StoreOption interface{ applyStore(*storeConfig) }

type sessionConfig struct {
	ttl    time.Duration
	codec  Codec
	key    KeyFunc
	prefix string
	clock  func() time.Time
}

type storeConfig struct {
	clock       func() time.Time
	maxEntries  int
	shards      int
	bucket      string
	openTimeout time.Duration
}

type sessionOption func(*sessionConfig)

func (o sessionOption) applySession(c *sessionConfig) { o(c) }

type storeOption func(*storeConfig)

func (o storeOption) applyStore(c *storeConfig) { o(c) }

// WithTTL sets how long a saved value lives (Session, default DefaultTTL)
// or how long a Conversation waits at a step (default
// DefaultConversationTimeout). A ttl <= 0 keeps the default.
func WithTTL(ttl time.Duration) Option {
	return sessionOption(func(c *sessionConfig) {
		if ttl > 0 {
			c.ttl = ttl
		}
	})
}

// WithCodec sets the codec of values (default JSONCodec).
func WithCodec(codec Codec) Option {
	return sessionOption(func(c *sessionConfig) {
		if codec != nil {
			c.codec = codec
		}
	})
}

// WithKey sets the KeyFunc that Session.Key and Conversation.Key use
// (default ChatUserKey).
func WithKey(key KeyFunc) Option {
	return sessionOption(func(c *sessionConfig) {
		if key != nil {
			c.key = key
		}
	})
}

// WithPrefix sets the prefix of every key that Session.Key and
// Conversation.Key build, so that several sessions can share a store
// (default "s:" for a Session, "conv:" for a Conversation).
func WithPrefix(prefix string) Option {
	return sessionOption(func(c *sessionConfig) { c.prefix = prefix })
}

// WithMaxEntries sets the capacity of a Memory store (default
// DefaultMaxEntries). When a new key would exceed it, the least recently
// used entry of the key's shard is evicted. Values < 1 keep the default.
// Bolt ignores it.
func WithMaxEntries(n int) StoreOption {
	return storeOption(func(c *storeConfig) {
		if n > 0 {
			c.maxEntries = n
		}
	})
}

// WithShards sets the number of lock shards of a Memory store (default
// DefaultShards, at most the capacity). LRU order is kept per shard; one
// shard gives exact LRU order over the whole store at the cost of one lock.
// Bolt ignores it.
func WithShards(n int) StoreOption {
	return storeOption(func(c *storeConfig) {
		if n > 0 {
			c.shards = n
		}
	})
}

// WithBucket sets the bbolt bucket of a Bolt store (default DefaultBucket).
func WithBucket(name string) StoreOption {
	return storeOption(func(c *storeConfig) {
		if name != "" {
			c.bucket = name
		}
	})
}

// WithOpenTimeout sets how long OpenBolt waits for a file lock held by
// another process (default DefaultOpenTimeout).
func WithOpenTimeout(d time.Duration) StoreOption {
	return storeOption(func(c *storeConfig) {
		if d > 0 {
			c.openTimeout = d
		}
	})
}

// ClockOption is returned by WithClock; it configures stores and
// conversations alike.
type ClockOption func() time.Time

func (o ClockOption) applySession(c *sessionConfig) { c.clock = o }
func (o ClockOption) applyStore(c *storeConfig)     { c.clock = o }

// WithClock sets the clock used for TTLs and timeouts (default time.Now).
// Tests use it to expire values without sleeping.
func WithClock(now func() time.Time) ClockOption {
	if now == nil {
		now = time.Now
	}
	return ClockOption(now)
}

func newSessionConfig(prefix string, ttl time.Duration, opts []Option) sessionConfig {
	c := sessionConfig{ttl: ttl, codec: JSONCodec{}, key: ChatUserKey, prefix: prefix, clock: time.Now}
	for _, o := range opts {
		o.applySession(&c)
	}
	return c
}

func newStoreConfig(opts []StoreOption) storeConfig {
	c := storeConfig{
		clock:       time.Now,
		maxEntries:  DefaultMaxEntries,
		shards:      DefaultShards,
		bucket:      DefaultBucket,
		openTimeout: DefaultOpenTimeout,
	}
	for _, o := range opts {
		o.applyStore(&c)
	}
	return c
}
