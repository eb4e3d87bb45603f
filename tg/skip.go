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
// member, as Telegram and tgtest send it, and the rest of the object has
// no second update_id and no \u escape (the decoder would take the last of
// duplicate names); any other update is decoded whole and returned (skip
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
	// The decoder takes the last of duplicate names: a second update_id,
	// possibly spelled with escapes, would be the one that counts.
	if rest := raw[i:]; bytes.Contains(rest, updateIDName) || bytes.Contains(rest, []byte(`\u`)) {
		return 0, false
	}
	if neg {
		id = -id
	}
	return id, true
}

var updateIDName = []byte(`"update_id"`)

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func (r *skippingUpdates) done() {}
