package tg

// This file is the hand-written support of the generated decodeFast
// methods (types_gen.go): tg's own decoding of the types it decodes most
// (see fastDecoders in internal/gen), without the JSON engine's reflection.

import (
	"bytes"
	"errors"
	"reflect"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// fastUpdate is an Update decoded by its generated decodeFast: the poller's
// way to decode updates, with tg's options (decodeOpts). Decoding an Update
// itself (a user's, with options of their own) goes through the JSON
// engine as always: decodeFast knows tg's options only.
type fastUpdate Update

// UnmarshalJSONFrom decodes an object with decodeFast, anything else (null,
// a wrong kind) as an Update is decoded.
func (u *fastUpdate) UnmarshalJSONFrom(dec *jsonDecoder) error {
	return readInline(dec, (*Update)(u))
}

// fastDecoder is a generated type with a decodeFast method.
type fastDecoder[T any] interface {
	*T
	decodeFast(dec *jsonDecoder) error
}

// decodeMembers reads the JSON object that starts next in dec, calling
// member with each member's name (unquoted) with dec at its value, which
// member must read. What decodeFast does for each name is what the JSON
// engine does with tg's options: exact names, the last of duplicate names
// kept (merged into what an earlier one decoded), unknown names skipped.
func decodeMembers(dec *jsonDecoder, member func(name []byte) error) error {
	if _, err := dec.ReadToken(); err != nil { // '{', as the caller saw
		return err
	}
	for dec.PeekKind() != '}' { // 0 on an error, which ReadValue returns
		raw, err := dec.ReadValue()
		if err != nil {
			return err
		}
		name := raw[1 : len(raw)-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var s string
			if err := unmarshal(raw, &s); err != nil {
				return err
			}
			name = []byte(s)
		}
		if err := member(name); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readObject decodes the next value of dec into the object *p points to,
// allocating it for an object when *p is nil, as the JSON engine does.
func readObject[T any, P fastDecoder[T]](dec *jsonDecoder, p **T) error {
	if dec.PeekKind() != '{' {
		return decodeFrom(dec, p)
	}
	if *p == nil {
		*p = new(T)
	}
	return P(*p).decodeFast(dec)
}

// readInline decodes the next value of dec into the object p.
func readInline[T any, P fastDecoder[T]](dec *jsonDecoder, p P) error {
	if dec.PeekKind() != '{' {
		return decodeFrom(dec, (*T)(p))
	}
	return p.decodeFast(dec)
}

// readInt decodes the next value of dec into *p: a JSON integer of at most
// 18 digits directly, anything else as the JSON engine does.
func readInt(dec *jsonDecoder, p *int64) error {
	raw, done, err := nextOfKind(dec, '0', p)
	if done {
		return err
	}
	digits, neg := raw, false
	if digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if len(digits) > 18 || bytes.ContainsAny(digits, ".eE") {
		return readRaw(dec, raw, p)
	}
	var n int64
	for _, c := range digits {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	*p = n
	return nil
}

// readString decodes the next value of dec into *p: a JSON string of
// valid UTF-8 without escapes directly, anything else as the JSON engine
// does.
func readString(dec *jsonDecoder, p *string) error {
	raw, done, err := nextOfKind(dec, '"', p)
	if done {
		return err
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return readRaw(dec, raw, p)
	}
	*p = string(s)
	return nil
}

// nextOfKind reads the next value of dec when it is of kind k; a value of
// any other kind is decoded into p as the JSON engine does, and done is
// true (as it is on an error).
func nextOfKind(dec *jsonDecoder, k jsontext.Kind, p any) (raw []byte, done bool, err error) {
	if dec.PeekKind() != k {
		return nil, true, decodeFrom(dec, p)
	}
	raw, err = dec.ReadValue()
	return raw, err != nil, err
}

// readBool decodes the next value of dec into *p.
func readBool(dec *jsonDecoder, p *bool) error {
	if k := dec.PeekKind(); k != 't' && k != 'f' {
		return decodeFrom(dec, p)
	}
	raw, err := dec.ReadValue()
	*p = err == nil && raw[0] == 't'
	return err
}

// readUnion reads the next value of dec as the raw JSON of a union field,
// decoded once the object is read (as the generated UnmarshalJSON does:
// the last of duplicate names counts).
func readUnion(dec *jsonDecoder, raw *[]byte) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	*raw = append((*raw)[:0], v...)
	return nil
}

// objectError is err of a union field of the T just read from dec, placed
// as the JSON engine places an UnmarshalJSONFrom method's error.
func objectError[T any](dec *jsonDecoder, err error) error {
	return &jsonv2.SemanticError{JSONPointer: dec.StackPointer(), ByteOffset: dec.InputOffset(), GoType: reflect.TypeFor[T](), Err: err}
}

// readRaw decodes raw, the value just read from dec, into v as the JSON
// engine does; an error names raw's place in dec's input.
func readRaw(dec *jsonDecoder, raw []byte, v any) error {
	err := unmarshal(raw, v)
	var se *jsonv2.SemanticError
	if errors.As(err, &se) {
		se.JSONPointer = dec.StackPointer()
		se.ByteOffset = dec.InputOffset() - int64(len(raw))
	}
	return err
}
