package tg

import (
	"bytes"
	"context"
	"errors"
	"math"

	"github.com/go-json-experiment/json/jsontext"
)

// GetUpdatesFunc is getUpdates for a long-polling source: it passes each
// update to fn as soon as it is decoded, so that work on the first update
// of an answer can start while the rest is still being read, and it never
// decodes an update the poller already holds (Telegram sends every update
// from the offset again while it is unconfirmed): an update whose
// update_id skip reports true for is not decoded beyond its id, and not
// passed. It returns how many were skipped. Skipped updates count toward
// p.Limit like the others.
//
// fn is called on the calling goroutine, once per update not skipped, in
// the server's order, and may block (the answer waits, unread, in the
// connection meanwhile; the call's ctx still bounds it: once ctx is done,
// reading the rest fails). The Update passed is fn's to keep. Updates are
// passed as they are decoded when the answer begins with "ok":true and has
// a 2xx status, as Telegram sends it; otherwise the answer is read whole
// first and its updates are passed only if it is a valid success. The
// updates passed are always a prefix of the answer's (skipped ones
// aside): once an update fails to decode, no later one is passed, so a
// caller that confirms by offset never passes over it. An error from fn
// ends the call at once, the rest of the answer unread, and is returned
// as it is. Updates passed before an error (fn's, or one found later in
// the answer) were passed: the caller decides what they mean — a poller
// that confirms only what it handled loses nothing.
//
// The id is read without decoding when update_id is the object's first
// member, as Telegram and tgtest send it, and skip is asked about it (on
// the calling goroutine, at most once per element, in order). An update
// skip holds is skipped when none of the object's other members is named
// update_id or has an escape in its name (the decoder would take the last
// of duplicate names); what the members' values hold does not matter.
// Any other update is decoded whole and passed: one whose first update_id
// skip does not hold but a later one it does too, so fn must take an id
// it holds as a duplicate (a poller's tracker does).
//
// A middleware (WithMiddleware) that sends the call again after a failure
// makes the answer decoded again: fn then sees again the updates it was
// passed before the failure (a poller skips those it holds).
func (c *Client) GetUpdatesFunc(ctx context.Context, p *GetUpdatesParams, skip func(id int64) bool, fn func(*Update) error) (skipped int, err error) {
	r := &skippingUpdates{skip: skip, fn: fn, limit: maxUpdatesPerCall}
	if p != nil && p.Limit > 0 && p.Limit < maxUpdatesPerCall {
		r.limit = int(p.Limit)
	}
	err = c.Call(ctx, "getUpdates", paramsOrNil(p), r)
	switch {
	case r.stop != nil:
		return r.skipped, r.stop
	case err != nil:
		return r.skipped, err
	case r.live: // passed as decoded
		return r.skipped, nil
	}
	for i := range r.ups { // held until the answer proved a valid success
		if err := fn(&r.ups[i]); err != nil {
			return r.skipped, err
		}
	}
	return r.skipped, nil
}

// skippingUpdates is the result of GetUpdatesFunc; the answer decoder
// fills it element by element (see answerDecoder.decodeResult), telling it
// first whether the answer is a success so far (begin).
type skippingUpdates struct {
	skip    func(int64) bool
	fn      func(*Update) error
	live    bool     // "ok":true came first, status 2xx: each update is passed as decoded
	ups     []Update // the updates decoded: passed already (live), or held until the answer proved valid
	skipped int
	failed  bool  // an element failed to decode: no later one is passed
	stop    error // fn's: decoding ended
	limit   int   // the most updates the answer may hold
}

// begin starts on a result array (an answer's, a later one of the same
// answer, or one of the call sent again by a middleware): what an earlier
// one held is dropped, as the decoder keeps the last of duplicate names.
func (r *skippingUpdates) begin(live bool) {
	r.ups, r.failed, r.live, r.skipped = nil, false, live, 0
}

// errStopDecoding ends the decoding of an answer at once: the result's
// taker refused to go on (skippingUpdates.stop says why).
var errStopDecoding = errors.New("tg: decoding stopped by the caller")

// add takes the next element of the array from dec, reading it once: its
// id is read from dec's buffer without consuming it (the whole element is
// scanned only when that id is held, for another member named update_id),
// and a new update is decoded straight from the stream. An element whose
// id (or, held, whose end) lies past what dec has read so far is read
// whole first, and decoded from its bytes.
// A decoded update goes to the next slot of the batch and, when live, is
// passed on.
func (r *skippingUpdates) add(dec *jsontext.Decoder) (semantic, fatal error) {
	var raw []byte // the element, when it had to be read whole first
	held := false  // with nothing to skip, no id is read
	if r.skip != nil {
		// The first member's id decides; the rest of the element is
		// scanned for another update_id only when that one is held: an
		// update decoded goes on to fn, which takes an id it holds as a
		// duplicate, whichever of its names the decoder kept.
		buf := nextElement(dec.UnreadBuffer())
		id, next, scan := scanUpdateIDMember(buf)
		heldFirst := false // skip was asked about the first member's id, and holds it
		if scan == idFound {
			if heldFirst = r.skip(id); heldFirst {
				scan = othersNamedOtherwise(buf, next)
				held = scan == idFound
			}
		}
		if scan == idCutShort {
			var err error
			if raw, err = dec.ReadValue(); err != nil {
				return nil, err
			}
			id, scan = scanLeadingUpdateID(raw) // the same first member, when heldFirst
			held = scan == idFound && (heldFirst || r.skip(id))
		}
	}
	if held || r.failed { // not decoded
		if raw == nil {
			if err := dec.SkipValue(); err != nil {
				return nil, err // not valid after all
			}
		}
		if held {
			r.skipped++
		}
		return nil, nil
	}
	if raw != nil {
		return r.decoded(unmarshal(raw, (*fastUpdate)(r.slot())), nil)
	}
	depth := dec.StackDepth()
	if err := decodeFrom(dec, (*fastUpdate)(r.slot())); err != nil {
		// What is left of the element is skipped; if it cannot be (a
		// syntax or read error), the answer ends with err.
		for dec.StackDepth() > depth {
			var serr error
			if k := dec.PeekKind(); k == '}' || k == ']' {
				_, serr = dec.ReadToken()
			} else {
				serr = dec.SkipValue()
			}
			if serr != nil {
				return r.decoded(nil, err)
			}
		}
		return r.decoded(err, nil)
	}
	return r.decoded(nil, nil)
}

// decoded finishes the update just decoded into the batch's last slot:
// one that failed to decode (semantic or fatal) is dropped and no later
// one is decoded; else it is passed on when live.
func (r *skippingUpdates) decoded(semantic, fatal error) (semanticErr, fatalErr error) {
	if semantic != nil || fatal != nil {
		r.ups = r.ups[:len(r.ups)-1]
		r.failed = true
		return semantic, fatal
	}
	if r.live {
		if err := r.fn(&r.ups[len(r.ups)-1]); err != nil {
			r.stop = err
			return nil, errStopDecoding
		}
	}
	return nil, nil
}

// nextElement returns buf (a decoder's unread buffer, inside an array)
// from the next element on: past whitespace and the comma before it.
func nextElement(buf []byte) []byte {
	i := skipSpace(buf, 0)
	if i < len(buf) && buf[i] == ',' {
		i = skipSpace(buf, i+1)
	}
	return buf[i:]
}

// slot appends a zero Update to the batch and returns it: one array of a
// few first, then one with room for the whole answer, so that a batch
// costs an allocation or two, not one per update. An array whose updates
// were passed on is left to them, not copied.
func (r *skippingUpdates) slot() *Update {
	if len(r.ups) == cap(r.ups) {
		n := min(4, r.limit)
		if len(r.ups) > 0 {
			n = max(r.limit, 2*len(r.ups))
		}
		if r.live {
			r.ups = make([]Update, 0, n)
		} else {
			r.ups = append(make([]Update, 0, n), r.ups...)
		}
	}
	r.ups = append(r.ups, Update{})
	return &r.ups[len(r.ups)-1]
}

// idScan is what scanLeadingUpdateID found.
type idScan int

const (
	idFound    idScan = iota // update_id is the first member, and no other member can be named so
	idUnknown                // anything else: the object is decoded whole
	idCutShort               // raw ends before the object does, or cannot be followed: read it whole first
)

// scanLeadingUpdateID reads the update_id of the JSON object at the start
// of raw when it is the object's first member: `{"update_id":123,...`,
// with any whitespace. raw may be bytes not yet validated that end before
// the object does (idCutShort): the caller then reads the object whole and
// scans it again.
func scanLeadingUpdateID(raw []byte) (id int64, scan idScan) {
	id, next, scan := scanUpdateIDMember(raw)
	if scan != idFound {
		return 0, scan
	}
	// The decoder takes the last of duplicate names: a second update_id
	// among the object's other members would be the one that counts.
	if scan := othersNamedOtherwise(raw, next); scan != idFound {
		return 0, scan
	}
	return id, idFound
}

// scanUpdateIDMember is scanLeadingUpdateID for the object's first member
// alone, which also returns where the rest starts (the ',' or '}' after
// it): with idFound, id is the object's update_id unless another member
// is named so (see othersNamedOtherwise).
func scanUpdateIDMember(raw []byte) (id int64, next int, scan idScan) {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		return 0, 0, idCutShort
	}
	if raw[i] != '{' {
		return 0, 0, idUnknown
	}
	i = skipSpace(raw, i+1)
	if len(raw)-i < len(updateIDName) {
		return 0, 0, idCutShort
	}
	if !bytes.HasPrefix(raw[i:], updateIDName) {
		return 0, 0, idUnknown
	}
	i = skipSpace(raw, i+len(updateIDName))
	if i >= len(raw) {
		return 0, 0, idCutShort
	}
	if raw[i] != ':' {
		return 0, 0, idUnknown
	}
	i = skipSpace(raw, i+1)
	neg := i < len(raw) && raw[i] == '-'
	if neg {
		i++
	}
	start := i
	for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
		d := int64(raw[i] - '0')
		if id > (math.MaxInt64-d)/10 {
			return 0, 0, idUnknown // overflows: let the decoder report it
		}
		id = id*10 + d
	}
	if i = skipSpace(raw, i); i >= len(raw) {
		return 0, 0, idCutShort
	}
	if i == start || i-start > 1 && raw[start] == '0' || raw[i] != ',' && raw[i] != '}' {
		return 0, 0, idUnknown // no digits, a leading zero, a fraction, an exponent or garbage: decode it
	}
	if neg {
		id = -id
	}
	return id, i, idFound
}

// othersNamedOtherwise reports whether the members of the object from i
// (at the ',' or '}' after its first member) are all named other than
// update_id, and none with an escape in its name (which might spell it):
// idFound if so, idUnknown if not, idCutShort if raw ends first or cannot
// be followed. Only the object's own names count: values are skipped,
// whatever their strings or nested objects hold.
func othersNamedOtherwise(raw []byte, i int) idScan {
	for {
		if i = skipSpace(raw, i); i >= len(raw) {
			return idCutShort
		}
		if raw[i] == '}' {
			return idFound
		}
		if raw[i] != ',' {
			return idUnknown
		}
		if i = skipSpace(raw, i+1); i >= len(raw) {
			return idCutShort
		}
		if raw[i] != '"' {
			return idUnknown
		}
		end := skipString(raw, i)
		if end < 0 {
			return idCutShort
		}
		name := raw[i:end]
		if bytes.Equal(name, updateIDName) || bytes.IndexByte(name, '\\') >= 0 {
			return idUnknown
		}
		if i = skipSpace(raw, end); i >= len(raw) {
			return idCutShort
		}
		if raw[i] != ':' {
			return idUnknown
		}
		if i = skipValue(raw, skipSpace(raw, i+1)); i < 0 {
			return idCutShort
		}
	}
}

// skipString returns the index just past the string starting at raw[i]
// (a '"'), or -1 if it does not end.
func skipString(raw []byte, i int) int {
	for j := i + 1; ; {
		q := bytes.IndexByte(raw[j:], '"')
		if q < 0 {
			return -1
		}
		q += j
		n := 0 // backslashes just before the quote: an odd count escapes it
		for k := q - 1; k > i && raw[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// skipValue returns the index just past the JSON value starting at
// raw[i], or -1 if it does not end.
func skipValue(raw []byte, i int) int {
	if i >= len(raw) {
		return -1
	}
	switch raw[i] {
	case '"':
		return skipString(raw, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); {
			switch raw[j] {
			case '"':
				if j = skipString(raw, j); j < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return -1
	}
	j := i // a number, true, false or null
	for j < len(raw) && raw[j] != ',' && raw[j] != '}' && raw[j] != ']' && raw[j] != ' ' && raw[j] != '\t' && raw[j] != '\n' && raw[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

var updateIDName = []byte(`"update_id"`)

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func (r *skippingUpdates) done() {}
