package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tidygram/tidygram/tg"
)

type page struct {
	List string
	N    int
	Back bool
}

// Inner is a struct to embed.
type Inner struct{ X int }

type level int

func (l level) MarshalText() ([]byte, error) { return []byte([]string{"low", "high"}[l]), nil }
func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		*l = 0
	case "high":
		*l = 1
	default:
		return fmt.Errorf("level %q", b)
	}
	return nil
}

type every struct {
	S    string
	B    bool
	I8   int8
	I64  int64
	U    uint
	U16  uint16
	F32  float32
	F64  float64
	L    level
	Skip string `callback:"-"`
	priv int
}

func TestCallbackPackUnpack(t *testing.T) {
	pages := NewCallback[page]("pg")
	tests := []struct {
		v    page
		data string
	}{
		{page{"orders", 2, false}, "pg:orders:2:0"},
		{page{"", -1, true}, "pg::-1:1"},
		{page{"a:b%c", 0, false}, "pg:a%3Ab%25c:0:0"},
		{page{"ünï 🎉", 1 << 40, true}, "pg:ünï 🎉:1099511627776:1"},
	}
	for _, tt := range tests {
		data, err := pages.Pack(tt.v)
		if err != nil || data != tt.data {
			t.Errorf("Pack(%+v) = %q, %v; want %q", tt.v, data, err, tt.data)
			continue
		}
		back, err := pages.Unpack(data)
		if err != nil || back != tt.v {
			t.Errorf("Unpack(%q) = %+v, %v; want %+v", data, back, err, tt.v)
		}
	}

	all := NewCallback[every]("e")
	v := every{"x", true, -8, math.MinInt64, 7, 65535, 1.5, 0.1, 1, "dropped", 3}
	data, err := all.Pack(v)
	if err != nil || data != "e:x:1:-8:-9223372036854775808:7:65535:1.5:0.1:high" {
		t.Fatalf("Pack(every) = %q, %v", data, err)
	}
	back, err := all.Unpack(data)
	v.Skip, v.priv = "", 0
	if err != nil || back != v {
		t.Fatalf("Unpack(every) = %+v, %v; want %+v", back, err, v)
	}

	none := NewCallback[struct{}]("noop")
	if d, err := none.Pack(struct{}{}); err != nil || d != "noop" {
		t.Errorf("no fields: %q, %v", d, err)
	}
	if _, err := none.Unpack("noop"); err != nil {
		t.Errorf("no fields: Unpack: %v", err)
	}
	if _, err := none.Unpack("noop:"); !errors.Is(err, ErrCallbackData) {
		t.Errorf("no fields: Unpack(noop:) = %v", err)
	}
}

func TestCallbackUnpackRefuses(t *testing.T) {
	pages := NewCallback[page]("pg")
	for _, data := range []string{
		"", "pg", "pg:", "pgx:a:1:0", "other:a:1:0", // another prefix
		"pg:a:1", "pg:a:1:0:9", // field count
		"pg:a:x:0", "pg:a:1:2", "pg:a:1:true", "pg:a:99999999999999999999:0", // values
		"pg:a%:1:0", "pg:a%2:1:0", "pg:a%41:1:0", // escapes
	} {
		if v, err := pages.Unpack(data); !errors.Is(err, ErrCallbackData) || v != (page{}) {
			t.Errorf("Unpack(%q) = %+v, %v; want ErrCallbackData and zero", data, v, err)
		}
	}
	if _, err := NewCallback[every]("e").Unpack("e:x:1:-8:1:7:1:1:1:medium"); !errors.Is(err, ErrCallbackData) {
		t.Errorf("bad text value: %v", err)
	}
}

// The limit is Telegram's 64 bytes, checked when packing: Pack errs,
// Button panics.
func TestCallbackLimit(t *testing.T) {
	pages := NewCallback[page]("pg")
	fits := page{List: strings.Repeat("a", 64-len("pg::0:0")), N: 0}
	if d, err := pages.Pack(fits); err != nil || len(d) != MaxCallbackData {
		t.Fatalf("64 bytes: %d %v", len(d), err)
	}
	over := fits
	over.List += "a"
	if _, err := pages.Pack(over); !errors.Is(err, ErrCallbackData) {
		t.Fatalf("65 bytes: %v", err)
	}
	multi := page{List: strings.Repeat("é", 29)} // 58 bytes, 29 characters
	if _, err := pages.Pack(multi); !errors.Is(err, ErrCallbackData) {
		t.Fatalf("bytes, not characters: %v", err)
	}
	escaped := page{List: strings.Repeat(":", 20)} // 60 bytes once escaped
	if _, err := pages.Pack(escaped); !errors.Is(err, ErrCallbackData) {
		t.Fatalf("escapes count: %v", err)
	}
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, ErrCallbackData) {
			t.Fatalf("Button over the limit: recovered %v, want ErrCallbackData", err)
		}
	}()
	pages.Button("next", over)
}

func TestNewCallbackPanics(t *testing.T) {
	for name, fn := range map[string]func(){
		"empty prefix":      func() { NewCallback[page]("") },
		"colon in prefix":   func() { NewCallback[page]("a:b") },
		"prefix too long":   func() { NewCallback[page](strings.Repeat("p", 64)) },
		"not a struct":      func() { NewCallback[int]("i") },
		"unsupported field": func() { NewCallback[struct{ P *int }]("p") },
		"slice field":       func() { NewCallback[struct{ S []string }]("s") },
		"embedded struct":   func() { NewCallback[struct{ Inner }]("x") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			fn()
		})
	}
}

func TestOnCallbackData(t *testing.T) {
	pages := NewCallback[page]("pg")
	var got []page
	r := New()
	OnCallbackData(r, pages, func(c *Context, p page) error { got = append(got, p); return nil })
	r.OnCallbackPrefix("pg", func(*Context) error { got = append(got, page{List: "stale"}); return nil })
	r.Freeze()
	tests := []struct {
		data, route string
		want        page
	}{
		{"pg:orders:3:1", "callback:pg", page{"orders", 3, true}},
		{"pg:orders:3", "callback:pg*", page{List: "stale"}}, // a button from before a field was added
		{"pgs:x", "callback:pg*", page{List: "stale"}},
	}
	for _, tt := range tests {
		got = nil
		name, h, ok := r.Match(callback(tt.data))
		if !ok || name != tt.route {
			t.Errorf("%q: route %q, want %q", tt.data, name, tt.route)
			continue
		}
		if err := h(NewContext(context.Background(), callback(tt.data), nil, name, nil)); err != nil || len(got) != 1 || got[0] != tt.want {
			t.Errorf("%q: handler got %+v, %v; want %+v", tt.data, got, err, tt.want)
		}
	}
	if _, _, ok := r.Match(text("pg:orders:3:1")); ok {
		t.Error("a text message matched callback data")
	}
	btn := pages.Button("Next", page{"orders", 4, false})
	if btn.CallbackData != "pg:orders:4:0" || btn.Text != "Next" {
		t.Errorf("Button = %+v", btn)
	}
	if v, err := pages.Value(NewContext(context.Background(), &tg.Update{}, nil, "", nil)); !errors.Is(err, ErrCallbackData) || v != (page{}) {
		t.Errorf("Value without a callback: %+v %v", v, err)
	}
}

func FuzzCallbackRoundTrip(f *testing.F) {
	f.Add("orders", int64(3), true)
	f.Add("a:b%3A", int64(-1), false)
	f.Add("%%::", int64(0), true)
	type data struct {
		S string
		N int64
		B bool
	}
	cb := NewCallback[data]("f")
	f.Fuzz(func(t *testing.T, s string, n int64, b bool) {
		v := data{s, n, b}
		packed, err := cb.Pack(v)
		if err != nil {
			if !errors.Is(err, ErrCallbackData) || len(packed) != 0 {
				t.Fatalf("Pack(%+v): %q %v", v, packed, err)
			}
			return
		}
		if len(packed) > MaxCallbackData {
			t.Fatalf("Pack(%+v) = %d bytes", v, len(packed))
		}
		back, err := cb.Unpack(packed)
		if err != nil || back != v {
			t.Fatalf("round trip of %+v through %q: %+v, %v", v, packed, back, err)
		}
	})
}
