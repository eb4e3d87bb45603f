package tg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

func TestLeadingUpdateID(t *testing.T) {
	for _, tt := range []struct {
		in string
		id int64
		ok bool
	}{
		{`{"update_id":123,"message":{}}`, 123, true},
		{` { "update_id" : 7 } `, 7, true},
		{"{\n\t\"update_id\":\r\n42,\"x\":1}", 42, true},
		{`{"update_id":-5}`, -5, true},
		{`{"update_id":9223372036854775807}`, 9223372036854775807, true},
		{`{"update_id":9223372036854775808}`, 0, false}, // overflows
		{`{"update_id":1.5}`, 0, false},
		{`{"update_id":1e3}`, 0, false},
		{`{"update_id":012}`, 0, false},
		{`{"update_id":"1"}`, 0, false},
		{`{"update_id":}`, 0, false},
		{`{"message":{},"update_id":3}`, 0, false}, // not first: decoded whole
		{`{"update_idx":3}`, 0, false},
		{`[1]`, 0, false},
		{``, 0, false},
		{`{"update_id":3`, 0, false},
		{`{"update_id":1,"update_id":2}`, 0, false},                          // the last counts
		{`{"update_id":1,"message":{},"update_id":2}`, 0, false},             // after other members too
		{`{"update_id":1,"update\u005fid":2}`, 0, false},                     // the same name, escaped
		{`{"update_id":1,"a\u0062":2}`, 0, false},                            // any escape in a name: decoded whole
		{`{"update_id":1,"message":{"text":"\u0416"}}`, 1, true},             // escapes in values do not matter
		{`{"update_id":1,"message":{"update_id":2}}`, 1, true},               // a nested name is not the update's
		{`{"update_id":1,"message":{"text":"\"update_id\":2"}}`, 1, true},    // nor a string's content
		{`{"update_id":1,"message":{"text":"a\\"},"update_id":2}`, 0, false}, // an escaped backslash ends the string
		{`{"update_id":1,"x":[1,{"y":"]}"},null],"z":true}`, 1, true},
		{`{"update_id":1,"x":"unterminated}`, 0, false},
		{`{"update_id":1,"x":{"y":1}`, 0, false},
		{`{"update_id":1,"x"}`, 0, false},
		{`{"update_id":1,}`, 0, false},
	} {
		id, scan := scanLeadingUpdateID([]byte(tt.in))
		if ok := scan == idFound; id != tt.id || ok != tt.ok {
			t.Errorf("scanLeadingUpdateID(%q) = %d, %v; want %d, found %v", tt.in, id, scan, tt.id, tt.ok)
		}
	}
}

// FuzzLeadingUpdateID: whenever the fast path reads an id from a valid
// JSON object, it is the update_id a full decode with the Client's own
// options finds.
func FuzzLeadingUpdateID(f *testing.F) {
	for _, data := range samples(f) {
		f.Add(data)
	}
	f.Add([]byte(`{"update_id":1,"update_id":2}`))
	f.Add([]byte(`{"update_id":1,"message":{"text":"\u0416","update_id":3},"update\u005fid":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, scan := scanLeadingUpdateID(data)
		if scan != idFound {
			return
		}
		var u struct {
			UpdateID int64 `json:"update_id"`
		}
		if err := unmarshal(data, &u); err != nil {
			return // not valid JSON as a whole: the decoder reports it
		}
		if u.UpdateID != id {
			t.Fatalf("fast path read %d, full decode %d: %q", id, u.UpdateID, data)
		}
		// Read from a decoder's buffer, the object may be cut anywhere:
		// no part of it is taken for the whole.
		for i := range len(bytes.TrimRight(data, " \t\r\n")) {
			if _, scan := scanLeadingUpdateID(data[:i]); scan == idFound {
				t.Fatalf("the first %d bytes of %q read as a whole object", i, data)
			}
		}
	})
}

// The poller's decoding reads each element once when the decoder holds it
// whole, and reads it first when it does not: both ways skip and pass the
// same updates and report the same faults, whatever the reads' sizes.
func TestSkippingUpdatesReadOnce(t *testing.T) {
	tests := []struct {
		name    string
		result  string  // the result array's elements
		want    []int64 // ids passed
		skipped int
		elems   int    // elements: skip is asked at most once each
		wantErr string // in the error; "" for none
	}{
		{"new and held", upd(1) + `,` + upd(11) + `,` + upd(2) + `,` + upd(12), []int64{1, 2}, 2, 4, ""},
		{"update_id not first: decoded and passed", `{"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"}},"update_id":11},` + upd(3), []int64{11, 3}, 0, 2, ""},
		{"held first, another update_id later: decoded and passed", `{"update_id":11,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"}},"update_id":4},` + upd(12), []int64{4}, 1, 2, ""},
		{"wrong type deep inside: those before it", upd(1) + `,{"update_id":2,"message":{"message_id":2,"date":1,"chat":{"id":"x","type":"private"},"text":"t"}},` + upd(3) + `,` + upd(12), []int64{1}, 1, 4, `/message/chat/id"`},
		{"not an object: those before it", upd(1) + `,"x",` + upd(3), []int64{1}, 0, 3, "unmarshal JSON string into Go tg.Update"},
		{"wrong type after the message", upd(1) + `,{"update_id":2,"message":{"message_id":2,"date":1,"chat":{"id":5,"type":"private"}},"edited_message":7},` + upd(3), []int64{1}, 0, 3, "edited_message"},
		{"held after a damaged one: skipped still", `{"update_id":2,"message":{"message_id":[]}},` + upd(11) + `,` + upd(3), nil, 1, 3, "message_id"},
		{"syntax error inside: the answer fails", upd(1) + `,{"update_id":2,"message":{"message_id":2 "date":1}},` + upd(3), []int64{1}, 0, 3, "invalid character"},
	}
	reads := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"halves", iotest.HalfReader},
	}
	for _, tt := range tests {
		for _, rd := range reads {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				got, skipped, asked, err := decodeHeldAbove10(rd.wrap(strings.NewReader(`{"ok":true,"result":[` + tt.result + `]}`)))
				if !slices.Equal(got, tt.want) || skipped != tt.skipped || asked > tt.elems {
					t.Errorf("passed %v, skipped %d, skip asked %d times; want %v, %d, at most %d", got, skipped, asked, tt.want, tt.skipped, tt.elems)
				}
				if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
					t.Errorf("error %v, want %q", err, tt.wantErr)
				}
			})
		}
	}
}

// upd is a getUpdates element with update_id id and a text message.
func upd(id int) string {
	return fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":1,"chat":{"id":5,"type":"private"},"text":"t%d"}}`, id, id, id)
}

// GetUpdatesFunc passes exactly a prefix of the answer's updates: all of a
// valid success, those before a damaged element or a damaged rest (and the
// error), none of an answer that is not a success, and stops at once when
// fn refuses one.
func TestGetUpdatesFuncPrefix(t *testing.T) {
	errRefused := errors.New("refused")
	tests := []struct {
		name    string
		status  int
		body    string
		refuse  int64   // fn returns errRefused for this id
		want    []int64 // ids passed to fn, in order
		wantErr string  // "" for none; errRefused's text when fn refused
	}{
		{"success", 200, `{"ok":true,"result":[` + upd(1) + `,` + upd(2) + `,` + upd(3) + `]}`, 0, []int64{1, 2, 3}, ""},
		{"ok after the result: passed once the answer is whole", 200, `{"result":[` + upd(1) + `,` + upd(2) + `],"ok":true}`, 0, []int64{1, 2}, ""},
		{"two results, ok after them: the last", 200, `{"result":[` + upd(1) + `],"result":[` + upd(2) + `],"ok":true}`, 0, []int64{2}, ""},
		{"ok false after the result: none", 200, `{"result":[` + upd(1) + `],"ok":false,"error_code":500,"description":"Internal"}`, 0, nil, "Internal"},
		{"ok true with status 500: none", 500, `{"ok":true,"result":[` + upd(1) + `]}`, 0, nil, "status 500"},
		{"damaged element: those before it", 200, `{"ok":true,"result":[` + upd(1) + `,{"update_id":2,"message":{"message_id":"x"}},` + upd(3) + `]}`, 0, []int64{1}, "message_id"},
		{"truncated answer: those complete", 200, `{"ok":true,"result":[` + upd(1) + `,` + upd(2) + `,{"update_id":3,"mess`, 0, []int64{1, 2}, "unexpected end of JSON input"},
		{"data after the answer", 200, `{"ok":true,"result":[` + upd(1) + `]} x`, 0, []int64{1}, "invalid character 'x'"},
		{"fn refuses the second", 200, `{"ok":true,"result":[` + upd(1) + `,` + upd(2) + `,` + upd(3) + `]}`, 2, []int64{1, 2}, "refused"},
		{"fn refuses, answer held", 200, `{"result":[` + upd(1) + `,` + upd(2) + `],"ok":true}`, 1, []int64{1}, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
				writeAnswer(w, tt.status, tt.body)
			})
			c := f.client(t)
			var got []int64
			_, err := c.GetUpdatesFunc(context.Background(), nil, nil, func(u *Update) error {
				got = append(got, u.UpdateID)
				if u.UpdateID == tt.refuse {
					return errRefused
				}
				return nil
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("passed %v, want %v", got, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one with %q", err, tt.wantErr)
			case tt.refuse != 0 && err != errRefused:
				t.Errorf("error %v, want fn's own error as it is", err)
			}
		})
	}
}

// An update is passed as soon as it is decoded: the server holds the rest
// of its answer back until the first update reached fn (or a generous
// deadline passed, which then fails the test).
func TestGetUpdatesFuncPassesBeforeTheRest(t *testing.T) {
	first := make(chan struct{})
	var early atomic.Bool
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		fmt.Fprint(w, `{"ok":true,"result":[`+upd(1)+`,`)
		w.(http.Flusher).Flush()
		select {
		case <-first:
			early.Store(true)
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
		fmt.Fprint(w, upd(2)+`]}`)
	})
	c := f.client(t)
	var got []int64
	_, err := c.GetUpdatesFunc(context.Background(), nil, nil, func(u *Update) error {
		if got = append(got, u.UpdateID); u.UpdateID == 1 {
			close(first)
		}
		return nil
	})
	if err != nil || !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("passed %v, error %v; want [1 2] and none", got, err)
	}
	if !early.Load() {
		t.Fatal("the first update reached fn only after the whole answer was read")
	}
}

// An fn that blocks past the call's deadline (a handler queue that stays
// full) does not make the call wait for the rest of the answer: reading
// it fails once fn returns, with the deadline's error, and no later update
// is passed.
func TestGetUpdatesFuncBlockedPastDeadline(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		fmt.Fprint(w, `{"ok":true,"result":[`+upd(1)+`,`)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes: the client gave up
	})
	c := f.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var got []int64
	_, err := c.GetUpdatesFunc(ctx, nil, nil, func(u *Update) error {
		got = append(got, u.UpdateID)
		<-ctx.Done() // blocked past the deadline
		return nil
	})
	if !slices.Equal(got, []int64{1}) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("passed %v, error %v; want [1] and the deadline's error", got, err)
	}
}

// FuzzSkippingUpdatesReadOnce: an answer read whole (each element read
// once, from the decoder's buffer) and one byte at a time (each element
// read first, then decoded) pass the same updates, skip the same and fail
// alike.
func FuzzSkippingUpdatesReadOnce(f *testing.F) {
	f.Add(upd(1) + `,` + upd(11) + `,` + upd(2))
	f.Add(upd(1) + `,{"update_id":2,"message":{"message_id":2,"date":1,"chat":{"id":"x"}}},` + upd(12) + `,` + upd(3))
	f.Add(`{"message":{},"update_id":12},"x",[],null,` + upd(4))
	f.Add(`{"update_id":11,"update_id":3},{"update_id":12,"a\u0062":1}`)
	f.Fuzz(func(t *testing.T, result string) {
		body := `{"ok":true,"result":[` + result + `]}`
		p1, s1, _, err1 := decodeHeldAbove10(strings.NewReader(body))
		p2, s2, _, err2 := decodeHeldAbove10(iotest.OneByteReader(strings.NewReader(body)))
		if !slices.Equal(p1, p2) || s1 != s2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("read whole: passed %v, skipped %d, error %v\none byte at a time: passed %v, skipped %d, error %v", p1, s1, err1, p2, s2, err2)
		}
	})
}

// decodeHeldAbove10 decodes a getUpdates answer from body as GetUpdatesFunc
// does for a poller that holds every update_id above 10, and returns the
// ids passed on, how many were skipped, how many times skip was asked and
// the answer's error.
func decodeHeldAbove10(body io.Reader) (passed []int64, skipped, asked int, err error) {
	red := newRedactor(testToken)
	r := &skippingUpdates{skip: func(id int64) bool { asked++; return id > 10 }, limit: maxUpdatesPerCall,
		fn: func(u *Update) error { passed = append(passed, u.UpdateID); return nil }}
	err = decodeAnswer("getUpdates", 200, body, r, limitsOf(DefaultMaxResponseBytes, maxUpdatesPerCall, red), red)
	return passed, r.skipped, asked, err
}
