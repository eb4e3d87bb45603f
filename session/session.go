package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Session gives typed access to values of type T in a Store. Values are
// encoded with the codec (WithCodec, default JSONCodec) and saved with a
// TTL (WithTTL, default DefaultTTL) that counts from the last save. A
// Session is safe for concurrent use; it holds no state besides its
// configuration.
type Session[T any] struct {
	store Store
	cfg   sessionConfig
	err   error // invalid options: returned by every operation
}

// New returns a Session of T values kept in store. It reads WithTTL,
// WithCodec, WithKey and WithPrefix (default "s:"); sessions of different
// types that share a store need different prefixes. Given an invalid
// option value (see OptionError), it returns a Session whose every
// operation returns that error, which Err reports at once: the value is
// never replaced by a default (the pattern of NewMemory).
func New[T any](store Store, opts ...Option) *Session[T] {
	cfg := newSessionConfig("s:", DefaultTTL, opts)
	s := &Session[T]{store: store, cfg: cfg}
	if len(cfg.errs) > 0 {
		s.err = fmt.Errorf("session: invalid options: %w", errors.Join(cfg.errs...))
	}
	return s
}

// Err returns the error of the options the Session was built with, or
// nil. With an error, Load, Save, Delete, Open and Do return it.
func (s *Session[T]) Err() error { return s.err }

// Key returns the key of the session of a chat and user: the prefix and
// the KeyFunc's result, or "" when the KeyFunc returns "".
func (s *Session[T]) Key(chatID, userID int64) string {
	k := s.cfg.key(chatID, userID)
	if k == "" {
		return ""
	}
	return s.cfg.prefix + k
}

// Load returns the value under key, or the zero T and a nil error when
// there is none (or it expired). A value that does not decode is an error
// wrapping the codec's error; the stored bytes are left as they are.
func (s *Session[T]) Load(ctx context.Context, key string) (T, error) {
	v, _, err := s.load(ctx, key)
	return v, err
}

// load is Load with the value's version when the store is Versioned (0
// otherwise, and when the key is absent).
func (s *Session[T]) load(ctx context.Context, key string) (T, uint64, error) {
	var (
		v       T
		raw     []byte
		version uint64
		err     error
	)
	if s.err != nil {
		return v, 0, s.err
	}
	if vs, ok := s.store.(Versioned); ok {
		raw, version, err = vs.GetVersion(ctx, key)
	} else {
		raw, err = s.store.Get(ctx, key)
	}
	if errors.Is(err, ErrNotFound) {
		return v, 0, nil
	}
	if err != nil {
		return v, 0, fmt.Errorf("session: load %q: %w", key, err)
	}
	if err := s.cfg.codec.Unmarshal(raw, &v); err != nil {
		var zero T
		return zero, 0, fmt.Errorf("session: decode %q: %w", key, err)
	}
	return v, version, nil
}

// Save stores v under key with the Session's TTL.
func (s *Session[T]) Save(ctx context.Context, key string, v T) error {
	if s.err != nil {
		return s.err
	}
	raw, err := s.cfg.codec.Marshal(v)
	if err != nil {
		return fmt.Errorf("session: encode %q: %w", key, err)
	}
	return s.save(ctx, key, raw)
}

func (s *Session[T]) save(ctx context.Context, key string, raw []byte) error {
	if err := s.store.Set(ctx, key, raw, s.cfg.ttl); err != nil {
		return fmt.Errorf("session: save %q: %w", key, err)
	}
	return nil
}

// Delete removes the value under key.
func (s *Session[T]) Delete(ctx context.Context, key string) error {
	if s.err != nil {
		return s.err
	}
	if err := s.store.Delete(ctx, key); err != nil {
		return fmt.Errorf("session: delete %q: %w", key, err)
	}
	return nil
}

// Open loads the value under key into a Scope that a handler may change
// through Scope.Value; Scope.Commit then saves it if it changed. It
// returns ErrNoKey for an empty key.
func (s *Session[T]) Open(ctx context.Context, key string) (*Scope[T], error) {
	if s.err != nil {
		return nil, s.err
	}
	if key == "" {
		return nil, ErrNoKey
	}
	v, version, err := s.load(ctx, key)
	if err != nil {
		return nil, err
	}
	// Remember the value's encoding as loaded (or the zero value's when
	// absent), so that Commit writes only a changed value: an untouched
	// session is not rewritten (fields the type does not know survive) and
	// a passing chat leaves no entry.
	orig, err := s.cfg.codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("session: encode %q: %w", key, err)
	}
	return &Scope[T]{s: s, key: key, orig: orig, v: v, version: version}, nil
}

// Do opens the session under key, calls fn with a context that carries it
// (see From) and a pointer to it, and commits it when fn returns nil. When
// fn returns an error or panics, changes are discarded, so that a
// redelivered update meets the state its first attempt met. Do returns
// fn's error, or the error of loading or saving.
func (s *Session[T]) Do(ctx context.Context, key string, fn func(ctx context.Context, v *T) error) error {
	sc, err := s.Open(ctx, key)
	if err != nil {
		return err
	}
	if err := fn(NewContext(ctx, sc.Value()), sc.Value()); err != nil {
		return err
	}
	return sc.Commit(ctx)
}

// Scope is one handler's view of a session: loaded by Session.Open,
// changed through Value, written by Commit. A Scope is not safe for
// concurrent use; the dispatcher runs one handler per chat at a time.
type Scope[T any] struct {
	s       *Session[T]
	key     string
	orig    []byte // encoding of the value as loaded (or of the zero value)
	v       T
	cleared bool
	version uint64 // of the value as loaded, for a Versioned store
}

// Key returns the session's key.
func (sc *Scope[T]) Key() string { return sc.key }

// Value returns a pointer to the session's value; changes through it are
// saved by Commit.
func (sc *Scope[T]) Value() *T { return &sc.v }

// Clear resets the value to the zero T and makes Commit delete the
// session, unless the value is changed again before Commit.
func (sc *Scope[T]) Clear() {
	var zero T
	sc.v = zero
	sc.cleared = true
}

// Commit writes the value if its encoding differs from the one loaded,
// deletes the session if it was cleared and is still the zero value, and
// otherwise does nothing (an unchanged value's TTL is not extended). With
// a Versioned store it writes or deletes only if the key still has the
// version Open read; otherwise it returns an error matching ErrConflict.
func (sc *Scope[T]) Commit(ctx context.Context) error {
	raw, err := sc.s.cfg.codec.Marshal(sc.v)
	if err != nil {
		return fmt.Errorf("session: encode %q: %w", sc.key, err)
	}
	if sc.cleared {
		zero, err := sc.s.cfg.codec.Marshal(*new(T))
		if err == nil && bytes.Equal(raw, zero) {
			if vs, ok := sc.s.store.(Versioned); ok {
				if err := vs.DeleteIf(ctx, sc.key, sc.version); err != nil {
					return fmt.Errorf("session: delete %q: %w", sc.key, err)
				}
				sc.version = 0
				return nil
			}
			return sc.s.Delete(ctx, sc.key)
		}
	}
	if bytes.Equal(raw, sc.orig) {
		return nil
	}
	if vs, ok := sc.s.store.(Versioned); ok {
		version, err := vs.SetIf(ctx, sc.key, raw, sc.s.cfg.ttl, sc.version)
		if err != nil {
			return fmt.Errorf("session: save %q: %w", sc.key, err)
		}
		sc.version = version
	} else if err := sc.s.save(ctx, sc.key, raw); err != nil {
		return err
	}
	sc.orig, sc.cleared = raw, false
	return nil
}

// ctxKey is the context key of a *T session value; one key type per T.
type ctxKey[T any] struct{}

// NewContext returns a copy of ctx that carries v; From[T] returns it.
// Session.Do calls it; a runtime that drives Scopes itself can too.
func NewContext[T any](ctx context.Context, v *T) context.Context {
	return context.WithValue(ctx, ctxKey[T]{}, v)
}

// From returns the session value of type T that Session.Do (or
// NewContext) put in ctx, and whether there is one. Changes made through
// the pointer are saved when the handler returns nil. With several
// sessions of the same T in one chain, the innermost wins.
func From[T any](ctx context.Context) (*T, bool) {
	v, ok := ctx.Value(ctxKey[T]{}).(*T)
	return v, ok
}
