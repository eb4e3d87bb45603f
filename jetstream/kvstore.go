package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/tidygram/tidygram/session"
)

// Defaults and limits of a SessionStore.
const (
	// DefaultSessionBucket is the KV bucket NewSessionStore uses (StoreBucket).
	DefaultSessionBucket = "tidygram_sessions"
	// DefaultSessionMaxValueBytes is the largest value a SessionStore
	// accepts by default (StoreMaxValueBytes): 512 KiB, so that a value,
	// its envelope and the headers fit NATS's default max_payload of 1 MiB
	// with room to spare.
	DefaultSessionMaxValueBytes = 512 << 10
	// MaxSessionKeyBytes is the longest key a SessionStore accepts. A key
	// is escaped into a KV key (up to three bytes per byte), which must fit
	// a NATS control line (4 KiB by default) with the bucket's subject.
	MaxSessionKeyBytes = 1 << 10

	// sessionMarkerTTL is how long the server keeps a deleted key's purge
	// marker, and the marker it leaves when a value's TTL ends (the
	// bucket's LimitMarkerTTL): long enough for KV watchers to see the
	// deletion, then the key costs nothing.
	sessionMarkerTTL = time.Minute
	// payloadReserve is what a write carries besides the value and its
	// envelope: the headers (expected revision, TTL), under 100 bytes.
	// The server counts them against max_payload and the bucket's
	// MaxValueSize.
	payloadReserve = 512
)

// The envelope every value is stored in: a magic, a version, and the
// expiry in Unix nanoseconds (0: never), big-endian, then the value.
const (
	envelopeMagic = "TGS"
	envelopeV1    = 1
	envelopeLen   = len(envelopeMagic) + 1 + 8
)

// SessionStore is a session.Store on a JetStream KV bucket, shared by
// every instance of a bot: a chat's session follows the chat when another
// instance takes it over. It implements session.Versioned, so that
// session.Session commits with revision-checked writes.
//
// # Conflicts
//
// A value's version is its KV revision. Scope.Commit (and so Session.Do)
// writes only if the key still has the revision Open read (SetIf,
// DeleteIf). When two instances handle the same chat at once (during a
// failover, before the old owner notices it lost the chat), both may read
// revision r; the first commit writes r', the second is refused by the
// server and returns an error matching session.ErrConflict (errors.As
// reaches the server's *natsjs.APIError too). That handler's update
// counts as failed and is reported; nothing is silently overwritten and
// nothing is retried behind the handler's back. Set and Delete are
// unconditional (last writer wins), as the Store contract asks.
//
// # Expiry
//
// Each value is stored in a small envelope that holds its expiry (12
// bytes: "TGS", a version byte, the expiry in Unix nanoseconds): a value
// reads as absent from the moment its ttl has passed, by the store's
// clock (StoreClock; instances must keep their clocks in sync, e.g. with
// NTP). Storage is reclaimed by the server: every write with a ttl > 0
// carries a per-message TTL (ttl rounded up to whole seconds), after
// which the server removes the value and leaves a marker for a minute.
// nats.go v1.56 accepts a per-key TTL only on KeyValue.Create, and the
// server removes values in whole seconds, so the envelope is what makes
// expiry exact and testable; the server's TTL is what bounds storage. A
// value set with ttl <= 0 never expires. A bucket that existed without
// per-message TTLs (created by another client without LimitMarkerTTL)
// keeps expired values until they are overwritten or deleted, or until
// the bucket's own MaxAge.
//
// A value the store did not write (no envelope: put there by another
// client) is an error matching session.ErrCorrupt (*CorruptValueError);
// Set and Delete replace it.
//
// # Limits and costs
//
// Keys may be any non-empty string of at most MaxSessionKeyBytes bytes:
// letters, digits, '-' and '/' are kept, other bytes are escaped (see
// escapeKey: "s:c1:u5" is stored as "s_3Ac1_3Au5"). Values larger than
// StoreMaxValueBytes are refused with a *session.SizeError (errors.Is
// session.ErrTooLarge) before anything is sent. Get, GetVersion, Set,
// Delete and DeleteIf with a version are one round trip to the server;
// SetIf is one, or three when it creates a key over an expired value or
// a marker; DeleteIf with version 0 is one or two.
//
// Every operation returns ctx.Err() without doing anything when ctx is
// already done, and session.ErrNoKey for an empty key. Values are copied
// in and out. A SessionStore starts no goroutine and holds no state
// besides its configuration; it is safe for concurrent use.
type SessionStore struct {
	b        *kvBucket
	clock    func() time.Time
	maxValue int
}

var (
	_ session.Store     = (*SessionStore)(nil)
	_ session.Versioned = (*SessionStore)(nil)
)

// StoreOption configures NewSessionStore.
type StoreOption func(*storeConfig)

type storeConfig struct {
	bucket   string
	replicas int
	maxValue int
	valueSet bool
	clock    func() time.Time
	errs     []error
}

func (c *storeConfig) invalid(option string, value any, reason string) {
	c.errs = append(c.errs, &session.OptionError{Option: option, Value: value, Reason: reason})
}

// StoreBucket sets the KV bucket's name (default DefaultSessionBucket;
// letters, digits, '-' and '_'). Bots that share a NATS account need
// different buckets.
func StoreBucket(name string) StoreOption {
	return func(c *storeConfig) {
		if !bucketNameRE.MatchString(name) {
			c.invalid("StoreBucket", name, "must be letters, digits, '-' and '_'")
			return
		}
		c.bucket = name
	}
}

// StoreReplicas sets the bucket's replicas when NewSessionStore creates it
// (default 1; 1 to 5; use 3 in a 3-node cluster). An existing bucket
// keeps its own.
func StoreReplicas(n int) StoreOption {
	return func(c *storeConfig) {
		if n < 1 || n > 5 {
			c.invalid("StoreReplicas", n, "must be from 1 to 5")
			return
		}
		c.replicas = n
	}
}

// StoreMaxValueBytes sets the largest value the store accepts (default
// DefaultSessionMaxValueBytes; at least 0, and with the envelope and
// headers it must fit the connection's max_payload). The bucket is
// created with a matching limit; an existing bucket with a lower limit
// lowers it.
func StoreMaxValueBytes(n int) StoreOption {
	return func(c *storeConfig) {
		if n < 0 {
			c.invalid("StoreMaxValueBytes", n, "must be at least 0")
			return
		}
		c.maxValue, c.valueSet = n, true
	}
}

// StoreClock sets the clock the store reads expiries by (default
// time.Now). Tests use it to expire values without sleeping; the server
// removes expired values by its own clock, later.
func StoreClock(now func() time.Time) StoreOption {
	return func(c *storeConfig) {
		if now != nil {
			c.clock = now
		}
	}
}

// NewSessionStore binds the KV bucket of the sessions, creating it if it
// does not exist (history 1, file storage, per-message TTLs, the value
// limit and replicas of the options). It returns invalid option values
// as *session.OptionError (joined), without contacting the server, and
// the server's errors wrapped. It blocks at most until ctx ends (the
// JetStream context's default timeout bounds each request when ctx has
// no deadline).
func NewSessionStore(ctx context.Context, js natsjs.JetStream, opts ...StoreOption) (*SessionStore, error) {
	c := storeConfig{bucket: DefaultSessionBucket, replicas: 1, maxValue: DefaultSessionMaxValueBytes, clock: time.Now}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if js == nil {
		c.errs = append(c.errs, errors.New("jetstream: NewSessionStore: nil JetStream"))
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, fmt.Errorf("jetstream: session store: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if nc := js.Conn(); nc != nil {
		room := int(nc.MaxPayload()) - envelopeLen - payloadReserve
		switch {
		case !c.valueSet:
			c.maxValue = min(c.maxValue, room)
		case c.maxValue > room:
			return nil, fmt.Errorf("jetstream: session store: %w", &session.OptionError{Option: "StoreMaxValueBytes", Value: c.maxValue,
				Reason: fmt.Sprintf("must be at most the connection's max_payload less %d bytes (%d)", envelopeLen+payloadReserve, room)})
		}
	}
	b, err := openBucket(ctx, js, natsjs.KeyValueConfig{
		Bucket:         c.bucket,
		Description:    "tidygram sessions",
		History:        1,
		Replicas:       c.replicas,
		MaxValueSize:   int32(c.maxValue + envelopeLen + payloadReserve), // the server counts the headers too
		Storage:        natsjs.FileStorage,
		LimitMarkerTTL: sessionMarkerTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: session store: %w", err)
	}
	s := &SessionStore{b: b, clock: c.clock, maxValue: c.maxValue}
	if b.maxMsg > 0 {
		s.maxValue = max(0, min(s.maxValue, int(b.maxMsg)-envelopeLen-payloadReserve))
	}
	return s, nil
}

// Bucket returns the name of the store's KV bucket.
func (s *SessionStore) Bucket() string { return s.b.name }

// MaxValueBytes returns the largest value the store accepts.
func (s *SessionStore) MaxValueBytes() int { return s.maxValue }

// CorruptValueError reports a value in the bucket that the store cannot
// read: it lacks the store's envelope (another client wrote it) or its
// envelope is of an unknown version. errors.Is(err, session.ErrCorrupt)
// is true. Set or Delete replaces it.
type CorruptValueError struct {
	Bucket   string
	Key      string // the session key, cut to its first 64 bytes
	Revision uint64
	Reason   string
}

func (e *CorruptValueError) Error() string {
	return fmt.Sprintf("jetstream: session store %s: value of %q (revision %d) is corrupt: %s", e.Bucket, e.Key, e.Revision, e.Reason)
}

// Is makes errors.Is(err, session.ErrCorrupt) true.
func (e *CorruptValueError) Is(target error) bool { return target == session.ErrCorrupt }

// check rejects a done context, an empty key and a key over the limit.
func (s *SessionStore) check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" {
		return session.ErrNoKey
	}
	if len(key) > MaxSessionKeyBytes {
		return sizeError("key", key, len(key), MaxSessionKeyBytes)
	}
	return nil
}

func (s *SessionStore) checkValue(key string, value []byte) error {
	if len(value) > s.maxValue {
		return sizeError("value", key, len(value), s.maxValue)
	}
	return nil
}

func sizeError(what, key string, size, limit int) *session.SizeError {
	return &session.SizeError{What: what, Key: cut(key), Size: size, Limit: limit}
}

func cut(key string) string {
	if len(key) > 64 {
		return key[:64]
	}
	return key
}

// opErr wraps an error of the server or the connection.
func (s *SessionStore) opErr(op, key string, err error) error {
	return fmt.Errorf("jetstream: session store %s: %s %q: %w", s.b.name, op, cut(key), err)
}

// conflictErr is the error of a write refused because key changed since
// version was read; cause is the server's refusal, if there is one.
func (s *SessionStore) conflictErr(op, key string, version uint64, cause error) error {
	if cause == nil {
		return fmt.Errorf("jetstream: session store %s: %s %q over version %d: %w", s.b.name, op, cut(key), version, session.ErrConflict)
	}
	return fmt.Errorf("jetstream: session store %s: %s %q over version %d: %w: %w", s.b.name, op, cut(key), version, session.ErrConflict, cause)
}

// seal wraps value in the envelope, with the expiry of a ttl set now.
func (s *SessionStore) seal(value []byte, ttl time.Duration) []byte {
	var exp int64
	if ttl > 0 {
		exp = s.clock().Add(ttl).UnixNano()
	}
	b := make([]byte, envelopeLen, envelopeLen+len(value))
	copy(b, envelopeMagic)
	b[len(envelopeMagic)] = envelopeV1
	binary.BigEndian.PutUint64(b[len(envelopeMagic)+1:], uint64(exp))
	return append(b, value...)
}

// open returns e's value (not copied) and whether it is live: present,
// not a marker, not expired. A value without the envelope is an error.
func (s *SessionStore) open(key string, e kvEntry) ([]byte, bool, error) {
	if !e.live() {
		return nil, false, nil
	}
	d := e.value
	if len(d) < envelopeLen || string(d[:len(envelopeMagic)]) != envelopeMagic {
		return nil, false, &CorruptValueError{Bucket: s.b.name, Key: cut(key), Revision: e.rev, Reason: "not written by a session store (no envelope)"}
	}
	if v := d[len(envelopeMagic)]; v != envelopeV1 {
		return nil, false, &CorruptValueError{Bucket: s.b.name, Key: cut(key), Revision: e.rev, Reason: fmt.Sprintf("envelope version %d is unknown", v)}
	}
	exp := int64(binary.BigEndian.Uint64(d[len(envelopeMagic)+1:]))
	if exp != 0 && s.clock().UnixNano() >= exp {
		return nil, false, nil
	}
	return d[envelopeLen:], true, nil
}

// Get implements session.Store.
func (s *SessionStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, _, err := s.GetVersion(ctx, key)
	return v, err
}

// GetVersion implements session.Versioned: the version is the value's KV
// revision. One round trip.
func (s *SessionStore) GetVersion(ctx context.Context, key string) ([]byte, uint64, error) {
	if err := s.check(ctx, key); err != nil {
		return nil, 0, err
	}
	e, err := s.b.get(ctx, escapeKey(key))
	if err != nil {
		return nil, 0, s.opErr("get", key, err)
	}
	v, live, err := s.open(key, e)
	if err != nil {
		return nil, 0, err
	}
	if !live {
		return nil, 0, session.ErrNotFound
	}
	return append(make([]byte, 0, len(v)), v...), e.rev, nil
}

// Set implements session.Store: an unconditional write (the last writer
// wins). One round trip.
func (s *SessionStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	if err := s.checkValue(key, value); err != nil {
		return err
	}
	if _, err := s.b.put(ctx, escapeKey(key), s.seal(value, ttl), ttl, 0, false); err != nil {
		return s.opErr("set", key, err)
	}
	return nil
}

// SetIf implements session.Versioned: it writes only if key's revision is
// still version, and returns the new revision. Version 0 means absent: a
// key without a value, deleted, or whose value has expired; the write
// then goes over exactly the marker or expired value that was there, so a
// value written meanwhile by another instance is never replaced. A
// refused write returns an error matching session.ErrConflict that wraps
// the server's *natsjs.APIError.
func (s *SessionStore) SetIf(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	if err := s.check(ctx, key); err != nil {
		return 0, err
	}
	if err := s.checkValue(key, value); err != nil {
		return 0, err
	}
	k, data := escapeKey(key), s.seal(value, ttl)
	rev, err := s.b.put(ctx, k, data, ttl, version, true)
	if err == nil {
		return rev, nil
	}
	if !isConflict(err) {
		return 0, s.opErr("set", key, err)
	}
	if version != 0 {
		return 0, s.conflictErr("set", key, version, err)
	}
	// The key has a message although the caller saw none: a marker, an
	// expired value, or a value written since. Write over the first two,
	// conditionally again.
	e, gerr := s.b.get(ctx, k)
	if gerr != nil {
		return 0, s.opErr("set", key, gerr)
	}
	if e.rev == 0 { // removed meanwhile (its TTL ended): the caller's view holds
		rev, err = s.b.put(ctx, k, data, ttl, 0, true)
	} else if _, live, oerr := s.open(key, e); oerr == nil && !live {
		rev, err = s.b.put(ctx, k, data, ttl, e.rev, true)
	}
	if err == nil {
		return rev, nil
	}
	if !isConflict(err) {
		return 0, s.opErr("set", key, err)
	}
	return 0, s.conflictErr("set", key, version, err)
}

// Delete implements session.Store: it purges every revision of key, and
// the server removes the purge marker a minute later (on a bucket with
// per-message TTLs). Deleting an absent
// key is not an error. One round trip.
func (s *SessionStore) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	if err := s.b.purge(ctx, escapeKey(key), sessionMarkerTTL, 0, false); err != nil {
		return s.opErr("delete", key, err)
	}
	return nil
}

// DeleteIf implements session.Versioned: it purges key only if its
// revision is still version; otherwise it returns an error matching
// session.ErrConflict. With version 0 it succeeds when key is absent
// (without a value, deleted or expired; an expired value is purged, if it
// is still there) and returns the conflict when key has a live value.
func (s *SessionStore) DeleteIf(ctx context.Context, key string, version uint64) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	k, rev := escapeKey(key), version
	if version == 0 {
		e, err := s.b.get(ctx, k)
		if err != nil {
			return s.opErr("delete", key, err)
		}
		if !e.live() {
			return nil
		}
		if _, live, oerr := s.open(key, e); oerr != nil || live {
			return s.conflictErr("delete", key, version, nil)
		}
		rev = e.rev // expired: tidy it away unless it was just replaced
	}
	err := s.b.purge(ctx, k, sessionMarkerTTL, rev, true)
	switch {
	case err == nil:
		return nil
	case isConflict(err):
		return s.conflictErr("delete", key, version, err)
	default:
		return s.opErr("delete", key, err)
	}
}
