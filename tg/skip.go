package tg

import (
	"bytes"
	"context"
	"math"
)

// GetUpdatesSkipping is GetUpdates for a poller that may be sent updates
// it already holds (Telegram sends every update from the offset again
// while it is unconfirmed): an update whose update_id skip reports true
// for is not decoded beyond its id, and not returned. It returns the
// updates decoded and how many were skipped. Skipped updates count toward
// p.Limit like the others.
//
// The id is read without decoding when update_id is the object's first
// member, as Telegram and tgtest send it, and none of the object's other
// members is named update_id or has an escape in its name (the decoder
// would take the last of duplicate names); what the members' values hold
// does not matter. Any other update is decoded whole and returned (skip
// is not asked). skip is called on the
// calling goroutine, once per element, in order.
func (c *Client) GetUpdatesSkipping(ctx context.Context, p *GetUpdatesParams, skip func(id int64) bool) ([]Update, int, error) {
	r := &skippingUpdates{skip: skip, limit: maxUpdatesPerCall}
	if p != nil && p.Limit > 0 && p.Limit < maxUpdatesPerCall {
		r.limit = int(p.Limit)
	}
	if err := c.Call(ctx, "getUpdates", paramsOrNil(p), r); err != nil {
		return nil, r.skipped, err
	}
	return r.ups, r.skipped, nil
}

// skippingUpdates is the result of GetUpdatesSkipping; the answer decoder
// fills it element by element (see answerDecoder.decodeResult).
type skippingUpdates struct {
	skip    func(int64) bool
	ups     []Update
	skipped int
	limit   int // the most updates the answer may hold
}

// add takes one raw element of the array.
func (r *skippingUpdates) add(raw []byte) error {
	if id, ok := leadingUpdateID(raw); ok && r.skip != nil && r.skip(id) {
		r.skipped++
		return nil
	}
	if len(r.ups) == cap(r.ups) { // a few first, then room for the whole batch
		n := min(4, r.limit)
		if len(r.ups) > 0 {
			n = max(r.limit, 2*len(r.ups))
		}
		r.ups = append(make([]Update, 0, n), r.ups...)
	}
	r.ups = append(r.ups, Update{})
	if err := unmarshal(raw, &r.ups[len(r.ups)-1]); err != nil {
		r.ups = r.ups[:len(r.ups)-1]
		return err
	}
	return nil
}

// leadingUpdateID reads the update_id of a JSON object whose first member
// it is: `{"update_id":123,...`, with any whitespace. ok is false for
// anything else (the caller then decodes the whole object).
func leadingUpdateID(raw []byte) (id int64, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return 0, false
	}
	i = skipSpace(raw, i+1)
	if !bytes.HasPrefix(raw[i:], updateIDName) {
		return 0, false
	}
	i = skipSpace(raw, i+len(updateIDName))
	if i >= len(raw) || raw[i] != ':' {
		return 0, false
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
			return 0, false // overflows: let the decoder report it
		}
		id = id*10 + d
	}
	if i == start || i-start > 1 && raw[start] == '0' {
		return 0, false
	}
	if i = skipSpace(raw, i); i >= len(raw) || (raw[i] != ',' && raw[i] != '}') {
		return 0, false // a fraction, an exponent or garbage: decode it
	}
	// The decoder takes the last of duplicate names: a second update_id
	// among the object's other members would be the one that counts.
	if !othersNamedOtherwise(raw, i) {
		return 0, false
	}
	if neg {
		id = -id
	}
	return id, true
}

// othersNamedOtherwise reports whether the members of the object from i
// (at the ',' or '}' after its first member) are all named other than
// update_id, and none with an escape in its name (which might spell it).
// Only the object's own names count: values are skipped, whatever their
// strings or nested objects hold. raw must be valid JSON (the answer
// decoder validated it); false for anything it cannot follow.
func othersNamedOtherwise(raw []byte, i int) bool {
	for {
		if i = skipSpace(raw, i); i >= len(raw) {
			return false
		}
		if raw[i] == '}' {
			return true
		}
		if raw[i] != ',' {
			return false
		}
		if i = skipSpace(raw, i+1); i >= len(raw) || raw[i] != '"' {
			return false
		}
		end := skipString(raw, i)
		if end < 0 {
			return false
		}
		name := raw[i:end]
		if bytes.Equal(name, updateIDName) || bytes.IndexByte(name, '\\') >= 0 {
			return false
		}
		if i = skipSpace(raw, end); i >= len(raw) || raw[i] != ':' {
			return false
		}
		if i = skipValue(raw, skipSpace(raw, i+1)); i < 0 {
			return false
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
