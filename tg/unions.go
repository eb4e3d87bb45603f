package tg

// This file is the hand-written support code of the generated decoders,
// methods and upload walkers (unions_gen.go, types_gen.go, params_gen.go,
// methods_gen.go).

import (
	"bytes"
	"errors"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	json "github.com/go-json-experiment/json/v1"
)

// jsonDecoder is the streaming decoder of the JSON engine, named here so
// that the generated UnmarshalJSONFrom methods need no import of their own.
type jsonDecoder = jsontext.Decoder

// unmarshal decodes data into v with tg's options (jsonopt.Decode): every
// decoding in tg goes through it or through decodeFrom.
func unmarshal(data []byte, v any) error { return jsonv2.Unmarshal(data, v, decodeOpts) }

// decodeFrom decodes the next value of dec into v with dec's options (the
// caller's: tg's decodeOpts when tg decodes).
func decodeFrom(dec *jsontext.Decoder, v any) error { return jsonv2.UnmarshalDecode(dec, v) }

// jsonKind returns the first byte of the JSON value in data ('n' for null,
// '{', '[', '"', …), or 0 for empty input.
func jsonKind(data []byte) byte {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return 0
	}
	return data[0]
}

// decodeSlice decodes a JSON array whose elements dec decodes. null decodes
// to nil, [] to an empty slice (so that both encode back as they came).
func decodeSlice[T any](data []byte, dec func([]byte) (T, error)) ([]T, error) {
	var raws []json.RawMessage
	if err := unmarshal(data, &raws); err != nil {
		return nil, err
	}
	if raws == nil {
		return nil, nil
	}
	out := make([]T, len(raws))
	for i, raw := range raws {
		v, err := dec(raw)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// sliceOf lifts an element decoder to a decoder of JSON arrays.
func sliceOf[T any](dec func([]byte) (T, error)) func([]byte) ([]T, error) {
	return func(data []byte) ([]T, error) { return decodeSlice(data, dec) }
}

// decodeField decodes raw into *dst unless the key was absent; an error
// names the field ("decode Message.forward_origin: …"). The wrapping is
// here, not at each of the generated call sites, where it would cost a
// call to fmt.Errorf per union field in every binary.
func decodeField[T any](dst *T, raw json.RawMessage, dec func([]byte) (T, error), field string) error {
	if len(raw) == 0 {
		return nil
	}
	v, err := dec(raw)
	if err != nil {
		return fmt.Errorf("decode %s: %w", field, err)
	}
	*dst = v
	return nil
}

// decodeInto decodes data into v through v's own UnmarshalJSON when it has
// one, else with unmarshal. data must have passed through the decoder
// already (a field, element or result it handed over, or a probe): calling
// UnmarshalJSON directly saves a validation pass and a scan per level.
func decodeInto(data []byte, v any) error {
	if u, ok := v.(json.Unmarshaler); ok {
		return u.UnmarshalJSON(data)
	}
	return unmarshal(data, v)
}

// decodeObject decodes a JSON object into a new T.
func decodeObject[T any](data []byte) (*T, error) {
	v := new(T)
	if err := unmarshal(data, v); err != nil {
		return nil, err
	}
	return v, nil
}

// orTrue decodes the result of a method that returns an object or True
// (for inline messages): true decodes to nil.
func orTrue[T any](data []byte) (*T, error) {
	if string(bytes.TrimSpace(data)) == "true" {
		return nil, nil
	}
	return decodeObject[T](data)
}

// result is a method result that needs a decoder: a union, a slice of
// unions, or an object-or-True.
type result[T any] struct {
	v   T
	dec func([]byte) (T, error)
}

// UnmarshalJSON decodes the result with r.dec.
func (r *result[T]) UnmarshalJSON(data []byte) error {
	v, err := r.dec(data)
	if err != nil {
		return err
	}
	r.v = v
	return nil
}

// rawJSON returns the JSON an Unknown union value keeps.
func rawJSON(raw json.RawMessage, typ string) ([]byte, error) {
	if len(raw) == 0 {
		return nil, errors.New("tg: " + typ + " without Raw JSON")
	}
	return raw, nil
}

// paramsOrNil passes nil params as a nil interface, not a typed nil pointer.
func paramsOrNil[P any](p *P) any {
	if p == nil {
		return nil
	}
	return p
}

// appendFile appends f to dst when it is an upload.
func appendFile(dst []*InputFile, f *InputFile) []*InputFile {
	if f.IsUpload() {
		return append(dst, f)
	}
	return dst
}

// appendCarrier appends the uploads of a union value, if its concrete type
// can carry any.
func appendCarrier(dst []*InputFile, v any) []*InputFile {
	if c, ok := v.(uploadCarrier); ok {
		return c.appendUploads(dst)
	}
	return dst
}

// Ptr returns a pointer to v, for the optional fields whose zero value is
// meaningful and that are therefore pointers (see the generator's rules in
// internal/gen): &SendPollParams{IsAnonymous: Ptr(false), …}.
func Ptr[T bool | int64 | float64](v T) *T { return &v }
