package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// kvBucket is a JetStream KV bucket as SessionStore and Limiter use it:
// a key's last message (its revision, and whether it is a delete marker),
// writes with an optional expected revision and an optional per-message
// TTL, and purges.
//
// It publishes to the bucket's subjects itself because nats.go v1.56
// takes a per-key TTL only on KeyValue.Create (KeyTTL), not on Put or
// Update, while the server (2.11 and later) honours a per-message TTL
// (the Nats-TTL header) on every message of a stream that allows it.
// The messages are the ones nats.go's KeyValue writes (same subjects,
// same KV-Operation and Nats-Rollup headers on purges, expected revision
// in Nats-Expected-Last-Subject-Sequence), so the bucket stays an
// ordinary KV bucket for the nats CLI and other clients.
//
// Reads go through the stream's message-get API request for the last
// message of the key's subject, answered by the stream's leader — not a
// direct get, which any replica may answer from state a write just
// changed (a session read stale after a failover would make its
// instance's next write fail as a conflict). Unlike KeyValue.Get it
// returns the revision of a delete marker too: a conditional write over
// a deleted key needs it.
type kvBucket struct {
	js       natsjs.JetStream
	stream   natsjs.Stream
	name     string // the bucket's name
	readPre  string // subject prefix of its keys: "$KV.<bucket>."
	writePre string // the same, behind the API prefix of a JetStream context with a domain or prefix (as nats.go's KeyValue writes)
	getSubj  string // the stream's message-get API subject
	msgTTL   bool   // the stream allows per-message TTLs
	maxMsg   int32  // the stream's MaxMsgSize; <= 0: none
}

// kvEntry is a key's last message.
type kvEntry struct {
	rev     uint64 // its sequence; 0 when the key has no message
	deleted bool   // it is a delete or purge marker (by a client or by the server's expiry)
	value   []byte // its data when it is a value; the caller must not keep it
}

// live reports whether the entry is a value (not absent, not a marker).
func (e kvEntry) live() bool { return e.rev != 0 && !e.deleted }

// bucketNameRE is what nats.go accepts as a bucket name.
var bucketNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

const (
	kvStreamPrefix = "KV_"
	kvOpHeader     = "KV-Operation" // nats.go's header of delete ("DEL") and purge ("PURGE") markers
	kvOpPurge      = "PURGE"
)

// openBucket binds the KV bucket cfg.Bucket, creating it with cfg when
// it does not exist. An existing bucket keeps its own configuration
// (replicas, limits): instances that start with different options do not
// fight over it. It refuses a stream that is not a writable KV bucket
// (a mirror or a sourced bucket, whose writes go elsewhere).
func openBucket(ctx context.Context, js natsjs.JetStream, cfg natsjs.KeyValueConfig) (*kvBucket, error) {
	name := kvStreamPrefix + cfg.Bucket
	st, err := js.Stream(ctx, name)
	if errors.Is(err, natsjs.ErrStreamNotFound) {
		_, err = js.CreateKeyValue(ctx, cfg)
		if err != nil && !errors.Is(err, natsjs.ErrBucketExists) {
			return nil, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
		}
		st, err = js.Stream(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("bind bucket %s: %w", cfg.Bucket, err)
	}
	info := st.CachedInfo()
	pre := "$KV." + cfg.Bucket + "."
	switch {
	case info.Config.Mirror != nil || len(info.Config.Sources) > 0:
		return nil, fmt.Errorf("bucket %s is a mirror or has sources: not supported", cfg.Bucket)
	case !hasSubject(info.Config.Subjects, pre+">"):
		return nil, fmt.Errorf("stream %s is not the KV bucket %s (subjects %v)", name, cfg.Bucket, info.Config.Subjects)
	}
	return &kvBucket{
		js:       js,
		stream:   st,
		name:     cfg.Bucket,
		readPre:  pre,
		writePre: apiPrefix(js.Options()) + pre,
		getSubj:  apiRequestPrefix(js.Options()) + "STREAM.MSG.GET." + name,
		msgTTL:   info.Config.AllowMsgTTL,
		maxMsg:   info.Config.MaxMsgSize,
	}, nil
}

func hasSubject(subjects []string, s string) bool {
	for _, x := range subjects {
		if x == s {
			return true
		}
	}
	return false
}

// apiPrefix returns what nats.go's KeyValue puts in front of the subjects
// it writes to: nothing for the default API prefix, the domain's or the
// custom API prefix otherwise.
func apiPrefix(o natsjs.JetStreamOptions) string {
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix == "" || o.APIPrefix == natsjs.DefaultAPIPrefix:
		return ""
	case strings.HasSuffix(o.APIPrefix, "."):
		return o.APIPrefix
	default:
		return o.APIPrefix + "."
	}
}

// kvAttempt bounds one request to the bucket's stream. A request left
// unanswered — its stream's leader being elected again after a node was
// lost, a connection moving to another node — is sent again within the
// caller's context instead of waiting for the context's end.
const kvAttempt = time.Second

// retried runs op until it succeeds, fails with an error that is not
// transient (see transient), or ctx ends; each attempt has at most
// kvAttempt, attempts 20 ms apart doubling to 500 ms. A write sent again
// after an unanswered attempt may have happened the first time: a
// conditional one then fails as a conflict (the caller reads and decides
// again), an unconditional one writes the same value twice.
func retried[T any](ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	return retriedEvery(ctx, kvAttempt, op)
}

// retriedEvery is retried with attempts of at most attempt each.
func retriedEvery[T any](ctx context.Context, attempt time.Duration, op func(context.Context) (T, error)) (T, error) {
	delay := 20 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		v, err := op(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return v, err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return v, err
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// transient reports whether err may pass by itself: no answer in time, no
// responder (no leader yet), or the server's "temporarily unavailable".
func transient(err error) bool {
	var apiErr *natsjs.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, natsjs.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.As(err, &apiErr) && apiErr.Code == 503
}

// get returns key's last message; a key without one is kvEntry{} and no
// error. Transient failures are retried within ctx (retried).
func (b *kvBucket) get(ctx context.Context, key string) (kvEntry, error) {
	m, err := retried(ctx, func(ctx context.Context) (*natsjs.RawStreamMsg, error) { return b.lastMsg(ctx, b.readPre+key) })
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		return kvEntry{}, nil
	}
	if err != nil {
		return kvEntry{}, err
	}
	e := kvEntry{rev: m.Sequence}
	if isMarker(m.Header) {
		e.deleted = true
		return e, nil
	}
	e.value = m.Data
	return e, nil
}

// lastMsg asks the stream's leader for the last message of subject.
func (b *kvBucket) lastMsg(ctx context.Context, subject string) (*natsjs.RawStreamMsg, error) {
	req, err := json.Marshal(struct {
		LastFor string `json:"last_by_subj"`
	}{subject})
	if err != nil {
		return nil, err
	}
	msg, err := b.js.Conn().RequestWithContext(ctx, b.getSubj, req)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Error   *natsjs.APIError `json:"error"`
		Message *struct {
			Subject string `json:"subject"`
			Seq     uint64 `json:"seq"`
			Header  []byte `json:"hdrs"`
			Data    []byte `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("message get answer: %w", err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrorCode == natsjs.JSErrCodeMessageNotFound:
		return nil, natsjs.ErrMsgNotFound
	case resp.Error != nil:
		return nil, resp.Error
	case resp.Message == nil:
		return nil, natsjs.ErrInvalidJetStreamResponse
	}
	m := &natsjs.RawStreamMsg{Subject: resp.Message.Subject, Sequence: resp.Message.Seq, Data: resp.Message.Data}
	if len(resp.Message.Header) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(resp.Message.Header); err != nil {
			return nil, fmt.Errorf("message get answer: headers: %w", err)
		}
	}
	return m, nil
}

// apiRequestPrefix returns the prefix of JetStream API request subjects
// for a context: "$JS.API." by default, the domain's or the custom one
// otherwise.
func apiRequestPrefix(o natsjs.JetStreamOptions) string {
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix == "":
		return natsjs.DefaultAPIPrefix
	case strings.HasSuffix(o.APIPrefix, "."):
		return o.APIPrefix
	default:
		return o.APIPrefix + "."
	}
}

// isMarker reports whether a message with header h is a delete or purge
// marker: nats.go's (KV-Operation) or the server's (Nats-Marker-Reason,
// left when a message expires or is removed).
func isMarker(h nats.Header) bool {
	if len(h) == 0 {
		return false
	}
	if op := h.Get(kvOpHeader); op != "" {
		return true
	}
	return h.Get(natsjs.MarkerReasonHeader) != ""
}

// put writes data under key and returns its revision. With cond, only if
// key's last message is still rev (0: key has no message); otherwise it
// fails with an error for which isConflict is true. A ttl > 0 makes the
// server remove the message after ttl rounded up to whole seconds (the
// server's unit), when the bucket allows per-message TTLs.
func (b *kvBucket) put(ctx context.Context, key string, data []byte, ttl time.Duration, rev uint64, cond bool) (uint64, error) {
	m := &nats.Msg{Subject: b.writePre + key, Data: data, Header: nats.Header{}}
	opts := make([]natsjs.PublishOpt, 0, 2)
	if cond {
		opts = append(opts, natsjs.WithExpectLastSequencePerSubject(rev))
	}
	if ttl > 0 && b.msgTTL {
		opts = append(opts, natsjs.WithMsgTTL(wholeSeconds(ttl)))
	}
	unanswered := false
	ack, err := retried(ctx, func(ctx context.Context) (*natsjs.PubAck, error) {
		ack, err := b.js.PublishMsg(ctx, m, opts...)
		if err != nil && transient(err) {
			unanswered = true
		}
		return ack, err
	})
	if err != nil && cond && unanswered && isConflict(err) {
		// An attempt that got no answer may have been written: if the
		// key now holds exactly this write, it was ours.
		if e, gerr := b.get(ctx, key); gerr == nil && !e.deleted && e.rev > rev && bytes.Equal(e.value, data) {
			return e.rev, nil
		}
	}
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// purge replaces every message of key by a purge marker (nats.go's
// KeyValue.Purge); with cond, only if key's last message is still rev. A
// ttl > 0 makes the server remove the marker too after ttl, when the
// bucket allows per-message TTLs.
func (b *kvBucket) purge(ctx context.Context, key string, ttl time.Duration, rev uint64, cond bool) error {
	m := nats.NewMsg(b.writePre + key)
	m.Header.Set(kvOpHeader, kvOpPurge)
	m.Header.Set(natsjs.MsgRollup, natsjs.MsgRollupSubject)
	opts := make([]natsjs.PublishOpt, 0, 2)
	if cond {
		opts = append(opts, natsjs.WithExpectLastSequencePerSubject(rev))
	}
	if ttl > 0 && b.msgTTL {
		opts = append(opts, natsjs.WithMsgTTL(wholeSeconds(ttl)))
	}
	_, err := retried(ctx, func(ctx context.Context) (*natsjs.PubAck, error) { return b.js.PublishMsg(ctx, m, opts...) })
	return err
}

// isConflict reports whether err is the server's refusal of a write whose
// expected revision is not the key's last ("wrong last sequence"; code
// 10164 on replicated streams).
func isConflict(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant)
}

// wholeSeconds rounds d up to whole seconds, at least one: the server
// reads a per-message TTL in whole seconds (truncating) and refuses one
// under a second, and a value must never be removed before its time.
func wholeSeconds(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second * time.Second
	return max(s, time.Second)
}

// escapeKey turns an arbitrary string into a valid KV key: letters,
// digits, '-' and '/' stay; every other byte, '_' included, becomes '_'
// and two upper-case hex digits. The result is never empty for a
// non-empty s, holds no '.' (so no empty subject token), is reversible
// (unescapeKey) and collision-free: '_' appears only as an escape, and
// escapes have a fixed width. "s:c100:u5" becomes "s_3Ac100_3Au5".
func escapeKey(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !plainKeyByte(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainKeyByte(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '_', hex[c>>4], hex[c&0xf])
	}
	return string(b)
}

// unescapeKey reverses escapeKey; it fails on a string escapeKey cannot
// return.
func unescapeKey(k string) (string, error) {
	if !strings.Contains(k, "_") {
		for i := 0; i < len(k); i++ {
			if !plainKeyByte(k[i]) {
				return "", fmt.Errorf("key %q: byte %q at %d is not escaped", k, k[i], i)
			}
		}
		return k, nil
	}
	b := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case plainKeyByte(c):
			b = append(b, c)
		case c == '_' && i+2 < len(k):
			hi, lo := unhex(k[i+1]), unhex(k[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("key %q: bad escape at %d", k, i)
			}
			v := byte(hi<<4 | lo)
			if plainKeyByte(v) {
				return "", fmt.Errorf("key %q: escape at %d of a byte that is not escaped", k, i)
			}
			b = append(b, v)
			i += 2
		default:
			return "", fmt.Errorf("key %q: byte %q at %d is not escaped", k, c, i)
		}
	}
	return string(b), nil
}

func plainKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '/'
}

// unhex returns the value of an upper-case hex digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
