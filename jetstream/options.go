package jetstream

import (
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Defaults of Open's options. Every option is checked when the spool
// opens: a value out of range makes Open fail with an *OptionError, it is
// never clamped.
const (
	DefaultName         = "TIDYGRAM"             // Name: stream, subject prefix and KV bucket prefix
	DefaultPartitions   = 16                     // Partitions: fixed for the stream's life
	DefaultReplicas     = 1                      // Replicas: use 3 in a 3-node cluster
	DefaultLeaseTTL     = 5 * time.Second        // LeaseTTL: a crashed owner's leases expire after it
	DefaultMaxInHand    = 10_000                 // MaxInHand: undone deliveries per instance
	DefaultDedupeWindow = 2 * time.Minute        // DedupeWindow: an update_id put twice within it is stored once
	DefaultMaxAge       = 24 * time.Hour         // MaxAge: an update older than this is dropped, done or not
	DefaultMaxBytes     = 1 << 30                // MaxBytes: 1 GiB; a full stream refuses Put
	DefaultReleaseWait  = 40 * time.Second       // ReleaseWait: how long a released partition waits for its deliveries' Done
	DefaultSyncInterval = 2 * time.Minute        // SyncInterval: the embedded server's fsync period (nats-server's default)
	DefaultOpenTimeout  = 30 * time.Second       // OpenTimeout: connect and set up, when ctx has no earlier deadline
	commitEvery         = 100 * time.Millisecond // watermarks are committed this often
	purgeEvery          = 5 * time.Second        // a partition's done updates are purged at most this often
	checkCache          = time.Second            // Check and Stats reuse a stream lookup this long
	minLeaseTTL         = 300 * time.Millisecond
	maxPartitions       = 1024
)

// Option configures Open.
type Option func(*config) error

// OptionError is Open's error for an invalid option or combination.
type OptionError struct {
	Option string // e.g. "Partitions"
	Reason string
}

func (e *OptionError) Error() string { return "jetstream: " + e.Option + ": " + e.Reason }

func optErr(option, format string, args ...any) error {
	return &OptionError{Option: option, Reason: fmt.Sprintf(format, args...)}
}

type config struct {
	embedded     bool
	dir          string
	serverOpts   []func(*server.Options)
	url          string
	natsOpts     []nats.Option
	name         string
	partitions   int
	replicas     int
	instance     string
	leaseTTL     time.Duration
	maxInHand    int
	dedupe       time.Duration
	maxAge       time.Duration
	maxBytes     int64
	releaseWait  time.Duration
	syncAlways   bool
	syncInterval time.Duration
	syncSet      bool
	openTimeout  time.Duration
	log          *slog.Logger
}

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	instanceRE = regexp.MustCompile(`^[A-Za-z0-9_=-]{1,64}$`)
)

func newConfig(opts []Option) (config, error) {
	c := config{
		name:         DefaultName,
		partitions:   DefaultPartitions,
		replicas:     DefaultReplicas,
		leaseTTL:     DefaultLeaseTTL,
		maxInHand:    DefaultMaxInHand,
		dedupe:       DefaultDedupeWindow,
		maxAge:       DefaultMaxAge,
		maxBytes:     DefaultMaxBytes,
		releaseWait:  DefaultReleaseWait,
		syncInterval: DefaultSyncInterval,
		openTimeout:  DefaultOpenTimeout,
	}
	for _, o := range opts {
		if o == nil {
			return c, optErr("Open", "nil option")
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	switch {
	case c.embedded && c.url != "":
		return c, optErr("Embedded", "cannot be combined with URL: the spool either runs its server or connects to one")
	case !c.embedded && c.url == "":
		return c, optErr("Open", "neither Embedded(dir) nor URL(url) given")
	case !c.embedded && (c.syncSet || len(c.serverOpts) > 0):
		return c, optErr("SyncAlways", "SyncAlways, SyncInterval and EmbeddedServer configure the embedded server; with URL the cluster's own configuration decides")
	case c.dedupe > c.maxAge:
		return c, optErr("DedupeWindow", "%v is longer than MaxAge %v", c.dedupe, c.maxAge)
	}
	if c.instance == "" {
		c.instance = randomID()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Embedded runs an in-process nats-server with JetStream, its file store in
// dir, listening on 127.0.0.1 on a random port (change it with
// EmbeddedServer); the spool connects to it in process, without TCP. Close
// shuts it down. Only one process may use dir at a time.
func Embedded(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return optErr("Embedded", "empty directory")
		}
		c.embedded, c.dir = true, dir
		return nil
	}
}

// EmbeddedServer adjusts the embedded server's options before it starts:
// a fixed port, authorization, or a cluster (Cluster, Routes, ServerName)
// so that the embedded servers of several instances form one JetStream
// cluster. Only with Embedded.
func EmbeddedServer(f func(*server.Options)) Option {
	return func(c *config) error {
		if f == nil {
			return optErr("EmbeddedServer", "nil function")
		}
		c.serverOpts = append(c.serverOpts, f)
		return nil
	}
}

// URL connects to an external NATS server or cluster (a comma-separated
// list of URLs; nats-server 2.11 or later, for the leases bucket's expiry
// markers); natsOpts add credentials, TLS and the like. The connection
// reconnects forever (250 ms apart) unless natsOpts say otherwise.
func URL(url string, natsOpts ...nats.Option) Option {
	return func(c *config) error {
		if url == "" {
			return optErr("URL", "empty URL")
		}
		c.url, c.natsOpts = url, append(c.natsOpts, natsOpts...)
		return nil
	}
}

// Name names the stream (default "TIDYGRAM"); it also prefixes the
// subjects (<name>.u.<partition>) and the KV buckets (<name>_leases,
// <name>_state). Letters, digits, '_' and '-', at most 32.
func Name(stream string) Option {
	return func(c *config) error {
		if !nameRE.MatchString(stream) {
			return optErr("Name", "%q: want 1–32 letters, digits, '_' or '-'", stream)
		}
		c.name = stream
		return nil
	}
}

// Partitions sets how many partitions the updates are spread over
// (default 16, at most 1024): the most instances that can share the
// handling. It is fixed when the stream is first created: Open refuses a
// different count for an existing spool.
func Partitions(n int) Option {
	return func(c *config) error {
		if n < 1 || n > maxPartitions {
			return optErr("Partitions", "%d: want 1…%d", n, maxPartitions)
		}
		c.partitions = n
		return nil
	}
}

// Replicas sets the stream's and KV buckets' replica count (default 1;
// 3 in a 3-node cluster survives the loss of a node).
func Replicas(r int) Option {
	return func(c *config) error {
		if r < 1 || r > 5 {
			return optErr("Replicas", "%d: want 1…5", r)
		}
		c.replicas = r
		return nil
	}
}

// Instance names this instance in leases (default: random). Two live
// instances must not share a name.
func Instance(id string) Option {
	return func(c *config) error {
		if !instanceRE.MatchString(id) {
			return optErr("Instance", "%q: want 1–64 letters, digits, '_', '=' or '-'", id)
		}
		c.instance = id
		return nil
	}
}

// LeaseTTL sets how long a lease (partition, poll, membership) lives
// without renewal (default 5 s, at least 300 ms). Leases are renewed every
// LeaseTTL/3; an owner that could not renew stops using a lease
// LeaseTTL·4/5 after its last successful renewal was sent, before the
// server lets it expire. A crashed instance's partitions and poll lease
// are taken over within about LeaseTTL + LeaseTTL/3 (the key expires, its
// expiry marker wakes the others; measured 2.0–2.4 s at LeaseTTL 2 s in a
// 3-node cluster), at most LeaseTTL·5/3 when a watcher missed the marker
// (it then treats a key not rewritten for LeaseTTL·4/3 as gone); a cleanly
// closed one's at once (measured 50–550 ms). All instances must use the
// same LeaseTTL.
func LeaseTTL(d time.Duration) Option {
	return func(c *config) error {
		if d < minLeaseTTL || d > time.Hour {
			return optErr("LeaseTTL", "%v: want %v…1h", d, minLeaseTTL)
		}
		c.leaseTTL = d
		return nil
	}
}

// MaxInHand bounds the deliveries this instance took from the spool and
// that are not yet Done (default 10,000): at the bound, reading waits. It
// replaces Telegram's 100-update window, so one slow chat holds back
// others only once this many updates wait behind it.
func MaxInHand(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 1_000_000 {
			return optErr("MaxInHand", "%d: want 1…1,000,000", n)
		}
		c.maxInHand = n
		return nil
	}
}

// DedupeWindow sets the stream's duplicate window (default 2 min): an
// update_id put again within it is acknowledged and not stored twice.
func DedupeWindow(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d > 7*24*time.Hour {
			return optErr("DedupeWindow", "%v: want 1s…168h", d)
		}
		c.dedupe = d
		return nil
	}
}

// MaxAge sets how long the stream keeps an update (default 24 h): an
// update not done by then is dropped by the server. Keep it well above
// any outage the bot should survive.
func MaxAge(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Minute {
			return optErr("MaxAge", "%v: want at least 1m", d)
		}
		c.maxAge = d
		return nil
	}
}

// MaxBytes bounds the stream's size (default 1 GiB). A full stream
// refuses Put (the source keeps the update unconfirmed to Telegram and
// tries again); it never drops a stored update to make room.
func MaxBytes(n int64) Option {
	return func(c *config) error {
		if n < 1<<20 || n == math.MaxInt64 {
			return optErr("MaxBytes", "%d: want at least 1 MiB", n)
		}
		c.maxBytes = n
		return nil
	}
}

// ReleaseWait bounds how long a partition this instance gives up (to a
// new instance, or after Consume returned) waits for its deliveries to be
// Done before the lease is released anyway (default 40 s: the bot's
// handler timeout and abandonment grace, plus margin). Updates still in
// hand then are delivered again by the next owner, flagged Redelivered.
func ReleaseWait(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > time.Hour {
			return optErr("ReleaseWait", "%v: want 0…1h", d)
		}
		c.releaseWait = d
		return nil
	}
}

// SyncAlways makes the embedded server fsync every write before it
// acknowledges it (nats-server's sync: always): a Put survives a power
// loss, at the cost of one fsync per update. Without it a Put survives a
// crash of the process (the server writes each message to the file before
// the acknowledgement) but reaches the disk only at the next periodic
// fsync (SyncInterval). Only with Embedded.
func SyncAlways() Option {
	return func(c *config) error {
		c.syncAlways, c.syncSet = true, true
		return nil
	}
}

// SyncInterval sets how often the embedded server fsyncs its files
// (default 2 min, nats-server's sync_interval). Only with Embedded.
func SyncInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 10*time.Millisecond {
			return optErr("SyncInterval", "%v: want at least 10ms", d)
		}
		c.syncInterval, c.syncSet = d, true
		return nil
	}
}

// OpenTimeout bounds Open when its ctx has no earlier deadline (default
// 10 s): connecting, the embedded server's start, creating the stream.
func OpenTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return optErr("OpenTimeout", "%v: want > 0", d)
		}
		c.openTimeout = d
		return nil
	}
}

// Logger receives the spool's reports (lease changes, errors it recovers
// from) and the embedded server's warnings and errors. Default: none.
func Logger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return optErr("Logger", "nil logger")
		}
		c.log = l
		return nil
	}
}
