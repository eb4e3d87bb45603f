package router

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/tidygram/tidygram/tg"
)

// MaxCallbackData is the most bytes Telegram accepts in a button's
// callback_data.
const MaxCallbackData = 64

// ErrCallbackData is matched (errors.Is) by the errors of Callback: data
// that would not fit in MaxCallbackData bytes when packed, and data that
// does not unpack (another prefix, another number of fields, a value of
// the wrong syntax).
var ErrCallbackData = errors.New("router: callback data")

// Callback packs values of the struct type T into callback data and back,
// as aiogram's CallbackData factory does: the prefix, then each exported
// field of T in declaration order, joined by ':' —
//
//	type Page struct {
//		List string
//		N    int
//	}
//	var pages = router.NewCallback[Page]("page")     // "page:orders:2"
//
//	kb := router.InlineKeyboard(router.Row(pages.Button("Next »", Page{List: "orders", N: 2})))
//	router.OnCallbackData(r, pages, func(c *router.Context, p Page) error { … })
//
// Field types: string, bool ("1"/"0"), the int, uint and float kinds
// (base 10; floats shortest round-trip), and any type whose value
// implements encoding.TextMarshaler and whose pointer implements
// encoding.TextUnmarshaler. In strings and texts '%' and ':' are written
// %25 and %3A, so any text round-trips. A field tagged `callback:"-"` is
// left out (and zero when unpacked). The encoding is stable: the same
// value always packs to the same data, across runs and versions of
// tidygram; adding, removing or reordering fields of T changes it, so
// buttons sent before such a change no longer unpack (they match no
// route, as any other unknown data).
//
// The 64-byte limit is checked when data is packed: Pack returns an
// error, Button panics (like aiogram, which raises at pack time), so that
// an oversize button fails where it is built, not as Telegram's "Bad
// Request: BUTTON_DATA_INVALID" when the message is sent.
//
// A Callback is immutable and safe for concurrent use.
type Callback[T any] struct {
	prefix string
	fields []cbField
}

type cbField struct {
	index int
	name  string
	kind  reflect.Kind
	text  bool // encoded through encoding.TextMarshaler
}

// NewCallback returns the Callback of T with prefix, which names the kind
// of data (and the route OnCallbackData registers). It panics when prefix
// is empty, holds ':' or leaves no room in MaxCallbackData, or when T is
// not a struct of the supported field types: both are written in code.
func NewCallback[T any](prefix string) *Callback[T] {
	if prefix == "" || strings.Contains(prefix, ":") || len(prefix) >= MaxCallbackData {
		panic(fmt.Sprintf("router: callback prefix %q: 1 to %d bytes, no ':'", prefix, MaxCallbackData-1))
	}
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("router: NewCallback[%s]: a struct type is needed", t))
	}
	cb := &Callback[T]{prefix: prefix}
	textMarshaler := reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler := reflect.TypeFor[encoding.TextUnmarshaler]()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("callback") == "-" {
			continue
		}
		fd := cbField{index: i, name: f.Name, kind: f.Type.Kind()}
		switch {
		case f.Type.Implements(textMarshaler) && reflect.PointerTo(f.Type).Implements(textUnmarshaler):
			fd.text = true
		case f.Anonymous:
			panic(fmt.Sprintf("router: NewCallback[%s]: embedded field %s is not supported", t, f.Name))
		default:
			switch fd.kind {
			case reflect.String, reflect.Bool,
				reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
				reflect.Float32, reflect.Float64:
			default:
				panic(fmt.Sprintf("router: NewCallback[%s]: field %s of type %s is not supported", t, f.Name, f.Type))
			}
		}
		cb.fields = append(cb.fields, fd)
	}
	return cb
}

// Prefix returns the prefix of the data.
func (cb *Callback[T]) Prefix() string { return cb.prefix }

// Pack returns v as callback data, or an error matching ErrCallbackData
// when it is longer than MaxCallbackData bytes.
func (cb *Callback[T]) Pack(v T) (string, error) {
	var b strings.Builder
	b.WriteString(cb.prefix)
	rv := reflect.ValueOf(&v).Elem()
	for _, f := range cb.fields {
		b.WriteByte(':')
		fv := rv.Field(f.index)
		if f.text {
			txt, err := fv.Interface().(encoding.TextMarshaler).MarshalText()
			if err != nil {
				return "", fmt.Errorf("%w: %s: field %s: %w", ErrCallbackData, cb.prefix, f.name, err)
			}
			escapeField(&b, string(txt))
			continue
		}
		switch f.kind {
		case reflect.String:
			escapeField(&b, fv.String())
		case reflect.Bool:
			if fv.Bool() {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			b.WriteString(strconv.FormatInt(fv.Int(), 10))
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			b.WriteString(strconv.FormatUint(fv.Uint(), 10))
		case reflect.Float32, reflect.Float64:
			b.WriteString(strconv.FormatFloat(fv.Float(), 'g', -1, fv.Type().Bits()))
		}
	}
	if b.Len() > MaxCallbackData {
		return "", fmt.Errorf("%w: %q is %d bytes, more than Telegram's %d", ErrCallbackData, b.String(), b.Len(), MaxCallbackData)
	}
	return b.String(), nil
}

// Button returns an inline button with text that sends v as callback data.
// It panics when v does not fit in MaxCallbackData bytes (see Callback);
// use Pack and CallbackButton to handle that as an error instead.
func (cb *Callback[T]) Button(text string, v T) tg.InlineKeyboardButton {
	data, err := cb.Pack(v)
	if err != nil {
		panic(err)
	}
	return CallbackButton(text, data)
}

// Unpack returns the value packed in data, or an error matching
// ErrCallbackData when data is not of this Callback.
func (cb *Callback[T]) Unpack(data string) (T, error) {
	var v T
	rest, ok := strings.CutPrefix(data, cb.prefix)
	if !ok || (rest != "" && rest[0] != ':') || (rest == "") != (len(cb.fields) == 0) {
		return v, fmt.Errorf("%w: %q is not %s data", ErrCallbackData, data, cb.prefix)
	}
	if len(cb.fields) == 0 {
		return v, nil
	}
	parts := strings.Split(rest[1:], ":")
	if len(parts) != len(cb.fields) {
		return v, fmt.Errorf("%w: %q has %d fields, %s has %d", ErrCallbackData, data, len(parts), cb.prefix, len(cb.fields))
	}
	rv := reflect.ValueOf(&v).Elem()
	for i, f := range cb.fields {
		if err := f.decode(rv.Field(f.index), parts[i]); err != nil {
			var zero T
			return zero, fmt.Errorf("%w: %q: field %s: %w", ErrCallbackData, data, f.name, err)
		}
	}
	return v, nil
}

func (f cbField) decode(fv reflect.Value, s string) error {
	if f.text || f.kind == reflect.String {
		txt, err := unescapeField(s)
		if err != nil {
			return err
		}
		if f.text {
			return fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(txt))
		}
		fv.SetString(txt)
		return nil
	}
	switch f.kind {
	case reflect.Bool:
		switch s {
		case "1":
			fv.SetBool(true)
		case "0":
			fv.SetBool(false)
		default:
			return fmt.Errorf("bool %q: want 1 or 0", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, fv.Type().Bits())
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, fv.Type().Bits())
		if err != nil {
			return err
		}
		fv.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, fv.Type().Bits())
		if err != nil {
			return err
		}
		fv.SetFloat(n)
	}
	return nil
}

// escapeField writes s with '%' and ':' percent-encoded.
func escapeField(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%':
			b.WriteString("%25")
		case ':':
			b.WriteString("%3A")
		default:
			b.WriteByte(s[i])
		}
	}
}

// unescapeField reverses escapeField; it accepts only %25 and %3A (any
// case), the escapes escapeField writes.
func unescapeField(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 > len(s) {
			return "", fmt.Errorf("cut escape in %q", s)
		}
		switch strings.ToUpper(s[i+1 : i+3]) {
		case "25":
			b.WriteByte('%')
		case "3A":
			b.WriteByte(':')
		default:
			return "", fmt.Errorf("escape %q in %q", s[i:i+3], s)
		}
		i += 2
	}
	return b.String(), nil
}

// Filter matches callback queries whose data unpacks as this Callback's.
func (cb *Callback[T]) Filter() Filter {
	return func(u *tg.Update) bool {
		if u.CallbackQuery == nil {
			return false
		}
		_, err := cb.Unpack(u.CallbackQuery.Data)
		return err == nil
	}
}

// Value returns the value of the update's callback data, or an error
// matching ErrCallbackData when it is not of this Callback.
func (cb *Callback[T]) Value(c *Context) (T, error) { return cb.Unpack(c.CallbackData()) }

// OnCallbackData registers h for callback queries whose data unpacks as
// cb's (the route is named "callback:"+prefix) and gives h the value.
// Data with cb's prefix that does not unpack (a button from before T
// changed) matches no route here; a later route or the fallback may take
// it.
func OnCallbackData[T any](r *Router, cb *Callback[T], h func(c *Context, v T) error) {
	if h == nil {
		panic("router: nil handler")
	}
	r.Handle("callback:"+cb.prefix, cb.Filter(), func(c *Context) error {
		v, err := cb.Value(c)
		if err != nil { // a filter matched it: only a middleware changing the update gets here
			return err
		}
		return h(c, v)
	})
}
