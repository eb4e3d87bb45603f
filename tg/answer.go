package tg

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	json "github.com/go-json-experiment/json/v1"

	"github.com/tidygram/tidygram/internal/jsonopt"
)

// MaxValueBytes bounds one JSON value the Client holds whole while it reads
// an answer (1 MiB): an element of an array result, a result that is not an
// array, one string or number, one envelope field. Bot API values are far
// smaller (a message's text is at most 4096 characters); a longer one is
// refused with a *ResponseError wrapping ErrTooLarge. With it, reading an
// answer holds at most what is kept plus about twice this much, whatever the
// answer's size.
const MaxValueBytes = 1 << 20

// maxUpdatesPerCall is the Bot API's largest getUpdates limit, and its
// default.
const maxUpdatesPerCall = 100

// maxPooledDecoderBuf: a decoder whose buffer grew past this is not reused.
const maxPooledDecoderBuf = 64 << 10

// errTruncated is the cause of a *ResponseError for a complete body that
// ends inside the JSON answer.
var errTruncated = errors.New("unexpected end of JSON input")

// answerReader is a response body as the JSON decoder reads it: at most max
// bytes (more fails with ErrTooLarge), at most maxValue bytes buffered by
// the decoder beyond its last complete token or value (more fails with
// ErrTooLarge too), the first bytes kept for error messages. Its first
// error is sticky.
type answerReader struct {
	body     io.Reader
	dec      *jsontext.Decoder
	n        int64 // bytes read from body
	max      int64
	maxValue int64
	peak     int64  // the most bytes the decoder held unread
	head     []byte // the first bytes of the body, up to cap(head)
	err      error  // ErrTooLarge (wrapped), or body's read error
	eof      bool   // body ended
}

func (a *answerReader) Read(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	if a.eof {
		return 0, io.EOF
	}
	held := a.n - a.dec.InputOffset()
	a.peak = max(a.peak, held)
	if held > a.maxValue {
		a.err = fmt.Errorf("%w: one JSON value is longer than %d bytes", ErrTooLarge, a.maxValue)
		return 0, a.err
	}
	if room := a.max + 1 - a.n; int64(len(p)) > room {
		p = p[:room] // one byte more than allowed reveals an oversized body
	}
	n, err := a.body.Read(p)
	if k := min(n, cap(a.head)-len(a.head)); k > 0 {
		a.head = append(a.head, p[:k]...)
	}
	a.n += int64(n)
	if a.n > a.max {
		a.err = fmt.Errorf("%w (%d bytes)", ErrTooLarge, a.max)
		return 0, a.err
	}
	switch {
	case err == io.EOF:
		a.eof = true
	case err != nil:
		a.err = err
	}
	return n, err
}

// fillHead reads the body on until head is full (a few hundred bytes at
// most), so that an error's snippet shows, and redacts, what the body
// holds there rather than only what the decoder had read.
func (a *answerReader) fillHead() {
	for a.err == nil && !a.eof && len(a.head) < cap(a.head) && a.n < a.max {
		n, err := a.body.Read(a.head[len(a.head):min(cap(a.head), len(a.head)+int(a.max-a.n))])
		a.head = a.head[:len(a.head)+n]
		a.n += int64(n)
		switch {
		case err == io.EOF:
			a.eof = true
		case err != nil:
			a.err = err
		}
	}
}

// answerDecoder decodes one answer; it is pooled.
type answerDecoder struct {
	dec jsontext.Decoder
	ar  answerReader
}

var answerDecoders = sync.Pool{New: func() any {
	d := &answerDecoder{dec: *jsontext.NewDecoder(eofReader{})}
	d.ar.dec = &d.dec
	return d
}}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// decodeOpts are the options of every decoding in tg (see jsonopt.Decode).
var decodeOpts = jsonopt.Decode

// answerLimits are the bounds of one answer.
type answerLimits struct {
	maxBytes int64 // the response cap
	maxItems int   // > 0: decode at most this many elements of an array result
	head     int   // bytes kept for snippets
}

// limitsOf returns the bounds of an answer of at most maxBytes, of which
// at most maxItems elements of an array result are decoded (0: no count
// bound), keeping enough of its head for red's snippets.
func limitsOf(maxBytes int64, maxItems int, red redactor) answerLimits {
	return answerLimits{maxBytes: maxBytes, maxItems: maxItems, head: 64 + red.window() + 1}
}

// answerFault is an error found while reading an answer that is not about
// its content: the body's read failed (network), or a cap was passed.
type answerFault struct{ err error }

func (e *answerFault) Error() string { return e.err.Error() }
func (e *answerFault) Unwrap() error { return e.err }

// decodeAnswer reads a Bot API answer from body and decodes it: nil when
// ok=true with a 2xx status (result filled in), an *APIError when ok=false,
// a *ResponseError when the body is not an envelope, ok=true comes with a
// non-2xx status, or a cap was passed, and an *answerFault wrapping the
// body's read error. It never returns nil unless the body holds "ok":true.
//
// The body is read as a stream and never held whole: an array result is
// decoded element by element into a slice (or a json.RawMessage or an
// any), each element held whole only while it is decoded; any other result
// is held whole. Fields other than ok, result, error_code, description and
// parameters are skipped token by token. With maxItems > 0, elements past
// maxItems are not decoded: when "ok":true came before the result (as
// Telegram sends it) the rest of the body is not read, otherwise it is
// skipped.
func decodeAnswer(method string, status int, body io.Reader, result any, lim answerLimits, red redactor) error {
	d := answerDecoders.Get().(*answerDecoder)
	d.ar = answerReader{body: body, dec: &d.dec, max: lim.maxBytes, maxValue: MaxValueBytes, head: d.ar.head[:0]}
	if cap(d.ar.head) < lim.head {
		d.ar.head = make([]byte, 0, lim.head)
	}
	d.dec.Reset(&d.ar, decodeOpts)
	err := d.decode(method, status, result, lim.maxItems, red)
	d.dec.Reset(eofReader{}, decodeOpts)
	if d.ar.peak <= maxPooledDecoderBuf {
		d.ar = answerReader{dec: &d.dec, head: d.ar.head[:0]}
		answerDecoders.Put(d)
	}
	return err
}

func (d *answerDecoder) decode(method string, status int, result any, maxItems int, red redactor) error {
	var (
		ok       okFlag
		env      *envelope // the error fields, made when the answer has one (not on the path of a success)
		semantic error     // the first error decoding a value (decoding goes on, as encoding/json does)
	)
	errFields := func() *envelope {
		if env == nil {
			env = new(envelope)
		}
		return env
	}
	fail := func(err error) error {
		if d.ar.err != nil {
			err = d.ar.err
			if !errors.Is(err, ErrTooLarge) {
				return &answerFault{err: err}
			}
		} else if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			err = errTruncated
		}
		d.ar.fillHead()
		return &ResponseError{Method: method, StatusCode: status, Err: err, Body: red.snippet(d.ar.head)}
	}
	setSemantic := func(err error) {
		if semantic == nil {
			semantic = err
		}
	}
	dec := &d.dec
	tok, err := dec.ReadToken()
	if err != nil {
		return fail(err)
	}
	if tok.Kind() != '{' {
		return &ResponseError{Method: method, StatusCode: status, Err: errNotEnvelope, Body: red.snippet(d.ar.head)}
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return fail(err)
		}
		switch name := tok.String(); {
		case strings.EqualFold(name, "result"):
			full, err := d.decodeResult(result, maxItems, ok == okTrue, ok == okTrue && status >= 200 && status <= 299, setSemantic)
			if err == errStopDecoding {
				return err
			}
			if err != nil {
				return fail(err)
			}
			if !full {
				break
			}
			// More elements than asked for, and "ok":true seen: the
			// rest of the body is not read.
			if semantic == nil && (status < 200 || status > 299) {
				semantic = fmt.Errorf(`"ok":true with HTTP status %d`, status)
			}
			if semantic != nil {
				return &ResponseError{Method: method, StatusCode: status, Err: semantic, Body: red.snippet(d.ar.head)}
			}
			return nil
		case strings.EqualFold(name, "ok"):
			raw, err := dec.ReadValue()
			if err != nil {
				return fail(err)
			}
			if err := ok.UnmarshalJSON(raw); err != nil {
				ok = okAbsent
				setSemantic(err)
			}
		case strings.EqualFold(name, "error_code"):
			err = d.decodeField(&errFields().ErrorCode, setSemantic)
		case strings.EqualFold(name, "description"):
			err = d.decodeField(&errFields().Description, setSemantic)
		case strings.EqualFold(name, "parameters"):
			err = d.decodeField(&errFields().Parameters, setSemantic)
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return fail(err)
		}
	}
	if _, err := dec.ReadToken(); err != nil { // '}'
		return fail(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("invalid data after the answer")
		}
		return fail(err)
	}
	if ok == okFalse {
		e := errFields()
		e.OK = ok
		return newAPIError(method, status, e, red)
	}
	err = semantic
	if err == nil && ok == okAbsent {
		err = errNotEnvelope
	}
	if err == nil && (status < 200 || status > 299) {
		err = fmt.Errorf(`"ok":true with HTTP status %d`, status)
	}
	if err != nil {
		return &ResponseError{Method: method, StatusCode: status, Err: err, Body: red.snippet(d.ar.head)}
	}
	return nil
}

// decodeField decodes the next value into v (a pointer), reporting a
// semantic error through setSemantic; the returned error is a syntax or
// read error.
func (d *answerDecoder) decodeField(v any, setSemantic func(error)) error {
	raw, err := d.dec.ReadValue()
	if err != nil {
		return err
	}
	if err := unmarshal(raw, v); err != nil {
		setSemantic(err)
	}
	return nil
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	jsonValueType  = reflect.TypeFor[jsontext.Value]()
	anyType        = reflect.TypeFor[any]()
)

// decodeResult decodes the result value into result (nil: skip it). An
// array decoded into a slice, a json.RawMessage or an any is read element
// by element; with maxItems > 0 elements past maxItems are skipped, or,
// when okSeen, not read at all: then it returns full = true and the
// decoder is left inside the array. success says whether the answer is a
// success so far ("ok":true seen and a 2xx status): a skippingUpdates
// then passes each update on as decoded.
func (d *answerDecoder) decodeResult(result any, maxItems int, okSeen, success bool, setSemantic func(error)) (full bool, err error) {
	dec := &d.dec
	if result == nil {
		return false, dec.SkipValue()
	}
	var add elementAdder
	if sk, ok := result.(*skippingUpdates); ok && dec.PeekKind() == '[' {
		sk.begin(success)
		add = sk
	} else {
		rv := reflect.ValueOf(result).Elem()
		if dec.PeekKind() != '[' || !elementwise(rv.Type()) {
			return false, d.decodeField(result, setSemantic)
		}
		add = arrayAppender(rv)
	}
	if _, err := dec.ReadToken(); err != nil { // '['
		return false, err
	}
	n := 0
	for dec.PeekKind() != ']' {
		if maxItems > 0 && n == maxItems {
			if okSeen {
				add.done()
				return true, nil
			}
			if err := dec.SkipValue(); err != nil {
				return false, err
			}
			continue
		}
		semantic, err := add.add(dec)
		if err != nil {
			return false, err
		}
		if semantic != nil {
			setSemantic(semantic)
		}
		n++
	}
	add.done()
	_, err = dec.ReadToken() // ']'
	return false, err
}

// elementwise reports whether a JSON array is decoded into a value of type
// t one element at a time: t is a slice (not of bytes) or a raw JSON value
// or an interface that decodes an array the plain way, with no unmarshal
// method of its own.
func elementwise(t reflect.Type) bool {
	switch {
	case t == rawMessageType || t == jsonValueType || t == anyType:
		return true
	case t.Kind() != reflect.Slice || t.Elem().Kind() == reflect.Uint8:
		return false
	}
	pt := reflect.PointerTo(t)
	for _, i := range []reflect.Type{
		reflect.TypeFor[json.Unmarshaler](), reflect.TypeFor[encoding.TextUnmarshaler](),
	} {
		if t.Implements(i) || pt.Implements(i) {
			return false
		}
	}
	return true
}

// elementAdder takes the elements of an array result one at a time.
type elementAdder interface {
	// add reads the next element from dec. An element that does not
	// decode (semantic) is read to its end and the array goes on; fatal
	// (a syntax or read error, errStopDecoding) ends the answer.
	add(dec *jsontext.Decoder) (semantic, fatal error)
	done()
}

// appender collects the elements of an array into a value.
type appender struct {
	rv  reflect.Value // the slice, RawMessage or any being filled
	raw []byte        // RawMessage: the array so far
	all []any         // any: the elements so far
}

func arrayAppender(rv reflect.Value) *appender {
	a := &appender{rv: rv}
	switch rv.Type() {
	case rawMessageType, jsonValueType:
		a.raw = append(make([]byte, 0, 64), '[')
	case anyType:
		a.all = []any{}
	default: // as encoding/json: the slice is reset, then appended to
		if rv.IsNil() {
			rv.Set(reflect.MakeSlice(rv.Type(), 0, 0))
		}
		rv.SetLen(0)
	}
	return a
}

func (a *appender) add(dec *jsontext.Decoder) (semantic, fatal error) {
	raw, err := dec.ReadValue()
	if err != nil {
		return nil, err
	}
	switch a.rv.Type() {
	case rawMessageType, jsonValueType:
		if len(a.raw) > 1 {
			a.raw = append(a.raw, ',')
		}
		a.raw = append(a.raw, bytes.TrimSpace(raw)...)
		return nil, nil
	case anyType:
		var v any
		err := unmarshal(raw, &v)
		a.all = append(a.all, v)
		return err, nil
	}
	a.rv.Set(reflect.Append(a.rv, reflect.Zero(a.rv.Type().Elem())))
	return unmarshal(raw, a.rv.Index(a.rv.Len()-1).Addr().Interface()), nil
}

func (a *appender) done() {
	switch a.rv.Type() {
	case rawMessageType, jsonValueType:
		a.rv.SetBytes(append(a.raw, ']'))
	case anyType:
		a.rv.Set(reflect.ValueOf(a.all))
	}
}
