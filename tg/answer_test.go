package tg

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// allocated runs f and returns the bytes allocated meanwhile (all
// goroutines: client and server): an upper bound of the heap's growth.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// streamUpdates writes n tiny updates ({"update_id":i}) as one chunked
// array, from a reused buffer, until done or the client hangs up.
func streamUpdates(w io.Writer, n int) bool {
	buf := make([]byte, 0, 32<<10)
	for i := 1; i <= n; i++ {
		if i > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"update_id":`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, '}')
		if len(buf) > 31<<10 || i == n {
			if _, err := w.Write(buf); err != nil {
				return false
			}
			buf = buf[:0]
		}
	}
	return true
}

// streamBytes writes n bytes of c in 32 KiB writes until done or the
// client hangs up.
func streamBytes(w io.Writer, c byte, n int64) bool {
	chunk := []byte(strings.Repeat(string(c), 32<<10))
	for ; n > 0; n -= int64(len(chunk)) {
		if _, err := w.Write(chunk[:min(n, int64(len(chunk)))]); err != nil {
			return false
		}
	}
	return true
}

// TestGetUpdatesDecodesAtMostLimit: a server that answers getUpdates with a
// million tiny updates gets at most `limit` of them decoded, and the
// client's memory stays small: the rest is not confirmed (the next offset
// is computed from what was returned), so nothing is lost. Before, every
// update in the body was decoded and returned (804,202 in a 16 MiB answer,
// a 474.5 MiB peak heap).
func TestGetUpdatesDecodesAtMostLimit(t *testing.T) {
	const million = 1_000_000
	okFirst := true
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, method string) {
		w.Header().Set("Content-Type", "application/json")
		if okFirst {
			io.WriteString(w, `{"ok":true,"result":[`)
			if streamUpdates(w, million) {
				io.WriteString(w, `]}`)
			}
			return
		}
		io.WriteString(w, `{"result":[`) // "ok" after the result: the rest is skipped, not decoded
		if streamUpdates(w, million) {
			io.WriteString(w, `],"ok":true}`)
		}
	})
	// A cap far above the answer's size (about 20 MB), so that only the
	// count bounds what is decoded.
	c := f.client(t, WithMaxResponseBytes(64<<20))
	for _, tc := range []struct {
		name    string
		okFirst bool
		limit   int64
		want    int
	}{
		{"limit 100", true, 100, 100},
		{"limit 5", true, 5, 5},
		{"no limit given: Telegram's default 100", true, 0, 100},
		{"limit above 100: clamped as Telegram does", true, 1000, 100},
		{"ok after the result", false, 100, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			okFirst = tc.okFirst
			var (
				ups []Update
				err error
			)
			start := time.Now()
			alloc := allocated(func() {
				ups, err = c.GetUpdates(context.Background(), &GetUpdatesParams{Limit: tc.limit})
			})
			t.Logf("%d updates returned, %.2f MiB allocated, %v", len(ups), float64(alloc)/(1<<20), time.Since(start).Round(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if len(ups) != tc.want {
				t.Fatalf("%d updates returned, want %d", len(ups), tc.want)
			}
			for i, u := range ups {
				if u.UpdateID != int64(i+1) {
					t.Fatalf("update %d has id %d: not the first ones in order", i, u.UpdateID)
				}
			}
			if alloc > 16<<20 {
				t.Fatalf("%.1f MiB allocated while reading the answer, want at most 16 MiB", float64(alloc)/(1<<20))
			}
		})
	}
}

// TestHugeChunkedAnswerRefused: a 1 GiB chunked answer is refused with a
// *ResponseError wrapping ErrTooLarge, and reading it costs little memory:
// neither the response cap (16 MiB) nor the body is ever held. Before, the
// read buffer grew to the cap (a 78.7 MiB peak).
func TestHugeChunkedAnswerRefused(t *testing.T) {
	const gib = 1 << 30
	bodies := map[string]func(w io.Writer){
		// One string longer than MaxValueBytes, inside an update.
		"getUpdates": func(w io.Writer) {
			io.WriteString(w, `{"ok":true,"result":[{"update_id":1,"message":{"message_id":1,"date":0,"chat":{"id":1,"type":"private"},"text":"`)
			streamBytes(w, 'x', gib)
		},
		// One string longer than MaxValueBytes in a result read whole.
		"sendMessage": func(w io.Writer) {
			io.WriteString(w, `{"ok":true,"result":{"message_id":1,"text":"`)
			streamBytes(w, 'x', gib)
		},
		// Tiny updates without end, "ok" not seen yet: skipped up to the cap.
		"getMyCommands": func(w io.Writer) {
			io.WriteString(w, `{"result":[`)
			streamUpdates(w, gib/16)
		},
		// An unknown field holding one huge string.
		"getMe": func(w io.Writer) {
			io.WriteString(w, `{"ok":true,"_padding":"`)
			streamBytes(w, 'x', gib)
		},
		// Whitespace without end.
		"getChat": func(w io.Writer) {
			io.WriteString(w, `{"ok":true,`)
			streamBytes(w, ' ', gib)
		},
	}
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, method string) {
		w.Header().Set("Content-Type", "application/json")
		bodies[method](w)
	})
	c := f.client(t)
	for method := range bodies {
		t.Run(method, func(t *testing.T) {
			var err error
			start := time.Now()
			alloc := allocated(func() {
				var result any
				if method == "getUpdates" {
					var ups []Update
					result = &ups
				}
				err = c.Call(context.Background(), method, nil, result)
			})
			t.Logf("%v; %.2f MiB allocated, %v", err, float64(alloc)/(1<<20), time.Since(start).Round(time.Millisecond))
			var re *ResponseError
			if !errors.As(err, &re) || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %T %v, want a *ResponseError wrapping ErrTooLarge", err, err)
			}
			if alloc > 12<<20 {
				t.Fatalf("%.1f MiB allocated while refusing the answer, want at most 12 MiB", float64(alloc)/(1<<20))
			}
		})
	}
}
