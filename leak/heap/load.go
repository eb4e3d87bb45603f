package heap

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// MaxProfileSize bounds a profile, compressed or not, that Parse and Fetch
// read.
const MaxProfileSize = 256 << 20

// Errors of Parse, wrapped with details (errors.Is finds them).
var (
	ErrFormat  = errors.New("heap: not a profile")
	ErrNotHeap = errors.New("heap: not a heap profile")
)

// Kind is what Detect finds in the first bytes of an input.
type Kind int

// Kinds of input.
const (
	KindUnknown   Kind = iota
	KindProfile        // a pprof profile: gzipped or plain protobuf, or a legacy "heap profile:" text
	KindGoroutine      // a goroutine dump in text (debug=1 or debug=2), for package leak
)

// String names the kind for people.
func (k Kind) String() string {
	return [...]string{"unknown", "profile", "goroutine dump"}[k]
}

// Detect tells a pprof profile (gzip magic, the legacy "heap profile:"
// text header, or a protobuf message starting with one of the Profile
// message's fields) from a goroutine text dump (starting with
// "goroutine", after blank space), from the first bytes of an input.
func Detect(head []byte) Kind {
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		return KindProfile
	}
	s := strings.TrimLeft(string(head[:min(len(head), 64)]), " \t\r\n")
	switch {
	case strings.HasPrefix(s, "goroutine"):
		return KindGoroutine
	case strings.HasPrefix(s, "heap profile:"):
		return KindProfile
	case len(head) > 0:
		// A protobuf field key: field numbers 1–15 of
		// perftools.profiles.Profile, varint or length-delimited.
		field, wire := head[0]>>3, head[0]&7
		if field >= 1 && field <= 15 && (wire == 0 || wire == 2) {
			return KindProfile
		}
	}
	return KindUnknown
}

// Profile is a parsed heap profile.
type Profile struct {
	Time    time.Time // when it was taken (zero when the profile does not say)
	Period  int64     // sampling rate, bytes (the runtime's MemProfileRate)
	Comment []string  // the profile's comments, if any
	p       *profile.Profile
	idx     [4]int // sample value index of alloc_objects, alloc_space, inuse_objects, inuse_space
}

// Value indexes into Values.
const (
	AllocObjects = iota
	AllocSpace
	InuseObjects
	InuseSpace
)

// Values are a site's four heap figures, in the order of the constants
// above: allocated objects and bytes since the program started, and
// objects and bytes in use as of the last garbage collection.
type Values [4]int64

var sampleTypes = [4]string{"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"}

// Parse reads a heap profile: gzipped or plain protobuf, or the legacy
// text form (?debug=1). It returns an error wrapping ErrFormat for bytes
// that are no profile, and ErrNotHeap for a profile of something else.
func Parse(data []byte) (*Profile, error) {
	if len(data) > MaxProfileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxProfileSize)
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		raw, err := io.ReadAll(io.LimitReader(zr, MaxProfileSize+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gunzip: %v", ErrFormat, err)
		}
		if len(raw) > MaxProfileSize {
			return nil, fmt.Errorf("%w: larger than %d bytes uncompressed", ErrFormat, MaxProfileSize)
		}
		data = raw
	}
	if Detect(data) != KindProfile {
		return nil, fmt.Errorf("%w: neither a pprof protobuf nor a heap profile text", ErrFormat)
	}
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return fromProfile(p)
}

func fromProfile(p *profile.Profile) (*Profile, error) {
	hp := &Profile{Period: p.Period, Comment: p.Comments, p: p}
	if p.TimeNanos > 0 {
		hp.Time = time.Unix(0, p.TimeNanos)
	}
	var have []string
	for i := range hp.idx {
		hp.idx[i] = -1
	}
	for j, st := range p.SampleType {
		have = append(have, st.Type)
		for i, name := range sampleTypes {
			if st.Type == name {
				hp.idx[i] = j
			}
		}
	}
	if hp.idx[InuseSpace] < 0 || hp.idx[AllocSpace] < 0 {
		return nil, fmt.Errorf("%w: sample types %v (want %v)", ErrNotHeap, have, sampleTypes)
	}
	for _, s := range p.Sample {
		if len(s.Value) != len(p.SampleType) {
			return nil, fmt.Errorf("%w: a sample has %d values for %d sample types", ErrFormat, len(s.Value), len(p.SampleType))
		}
	}
	return hp, nil
}

// values returns s's figures.
func (hp *Profile) values(s *profile.Sample) Values {
	var v Values
	for i, j := range hp.idx {
		if j >= 0 {
			v[i] = s.Value[j]
		}
	}
	return v
}

// Fetch GETs a profile or dump from url with "Authorization: Bearer
// token" (none when token is empty), reading at most MaxProfileSize bytes.
// A refusal is an error naming the status (and, for 401, the missing
// token). It asks for the answer uncompressed (see below). The context
// bounds the whole request.
func Fetch(ctx context.Context, client *http.Client, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// Uncompressed: a server that compresses its answer may keep the
	// compressor (promhttp pools them; about 800 KB) over the next GC,
	// and the next heap profile read from it would count it, in one
	// profile out of two.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized {
			hint = " (give --token)"
		}
		return nil, fmt.Errorf("GET %s: %s%s: %s", req.URL.Redacted(), resp.Status, hint, strings.TrimSpace(string(msg)))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxProfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	if len(data) > MaxProfileSize {
		return nil, fmt.Errorf("GET %s: answer larger than %d bytes", req.URL.Redacted(), MaxProfileSize)
	}
	return data, nil
}
