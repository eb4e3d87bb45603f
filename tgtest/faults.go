package tgtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind names a way a Bot API call can fail.
type FaultKind string

// The fault kinds. Kinds marked "before" answer without performing the
// call; kinds marked "after" perform it (a message is sent, updates are
// handed out) and then spoil the answer, the ambiguous outcome a client
// must not retry blindly.
const (
	FaultInternal   FaultKind = "500"       // before: 500 with Telegram's JSON error
	FaultBadGateway FaultKind = "502"       // before: 502 with a proxy's HTML page
	FaultTooMany    FaultKind = "429"       // before: 429 with parameters.retry_after = RetryAfter
	FaultHang       FaultKind = "hang"      // before: hold the request until the client gives up, Duration passes (then serve it) or Close
	FaultCut        FaultKind = "cut"       // after: close the connection after half the body
	FaultTrickle    FaultKind = "trickle"   // after: write the body in 16 pieces spread over Duration
	FaultMalformed  FaultKind = "malformed" // after: a JSON body cut in half (status and length consistent)
	FaultHuge       FaultKind = "huge"      // after: valid JSON padded to Size bytes before "result"
)

var faultKinds = [...]FaultKind{FaultInternal, FaultBadGateway, FaultTooMany, FaultHang, FaultCut, FaultTrickle, FaultMalformed, FaultHuge}

func (k FaultKind) index() int {
	for i, fk := range faultKinds {
		if fk == k {
			return i
		}
	}
	return -1
}

// Fault is one injected failure. Zero fields take defaults: RetryAfter 1 s,
// Duration 60 s for hang and 2 s for trickle, Size 16 MiB.
type Fault struct {
	Kind       FaultKind     `json:"kind"`
	RetryAfter int           `json:"retry_after,omitempty"`
	Duration   time.Duration `json:"-"`
	Size       int64         `json:"size,omitempty"`
}

// MarshalJSON writes Duration as a Go duration string ("1.5s").
func (f Fault) MarshalJSON() ([]byte, error) {
	type plain Fault
	j := struct {
		plain
		Duration string `json:"duration,omitempty"`
	}{plain: plain(f)}
	if f.Duration > 0 {
		j.Duration = f.Duration.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads Duration as a Go duration string ("1.5s").
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var j struct {
		plain
		Duration string `json:"duration"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = Fault(j.plain)
	if j.Duration != "" {
		d, err := time.ParseDuration(j.Duration)
		if err != nil {
			return fmt.Errorf("tgtest: fault duration: %w", err)
		}
		f.Duration = d
	}
	return f.validate()
}

func (f *Fault) validate() error {
	if f.Kind.index() < 0 {
		return fmt.Errorf("tgtest: unknown fault kind %q", f.Kind)
	}
	if f.RetryAfter < 0 || f.Duration < 0 || f.Size < 0 {
		return fmt.Errorf("tgtest: negative fault parameter")
	}
	return nil
}

func (f *Fault) preExecution() bool {
	switch f.Kind {
	case FaultInternal, FaultBadGateway, FaultTooMany, FaultHang:
		return true
	}
	return false
}

type faultRule struct {
	p float64
	f Fault
}

// faultTable holds the faults to inject per method (mUnknown: any method).
type faultTable struct {
	active atomic.Bool
	mu     sync.Mutex
	rng    *rand.Rand
	seed   uint64
	rates  map[methodID][]faultRule
	script map[methodID][]Fault
}

func (ft *faultTable) init(seed uint64) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.seed = seed
	ft.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ft.rates = make(map[methodID][]faultRule)
	ft.script = make(map[methodID][]Fault)
	ft.active.Store(false)
}

// pick returns the fault to inject in a call of m, or nil.
func (ft *faultTable) pick(m methodID) *Fault {
	if !ft.active.Load() {
		return nil
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for _, k := range [2]methodID{m, mUnknown} {
		if sc := ft.script[k]; len(sc) > 0 {
			f := sc[0]
			if len(sc) == 1 {
				delete(ft.script, k)
			} else {
				ft.script[k] = sc[1:]
			}
			ft.updateActive()
			return &f
		}
	}
	for _, k := range [2]methodID{m, mUnknown} {
		for _, r := range ft.rates[k] {
			if ft.rng.Float64() < r.p {
				f := r.f
				return &f
			}
		}
	}
	return nil
}

func (ft *faultTable) updateActive() {
	ft.active.Store(len(ft.rates) > 0 || len(ft.script) > 0)
}

func methodKey(method string) (methodID, error) {
	if method == "" || method == "*" {
		return mUnknown, nil
	}
	m := lookupMethod(method)
	if m == mUnknown {
		return 0, fmt.Errorf("tgtest: unknown method %q", method)
	}
	return m, nil
}

// SetFaultRate makes each call of method ("" or "*": any method) fail with
// f with probability p, drawn from the seeded generator (WithSeed). Several
// rules may apply to a method; they are tried in the order they were set.
// p <= 0 removes the method's rules of f.Kind.
func (s *Server) SetFaultRate(method string, p float64, f Fault) error {
	m, err := methodKey(method)
	if err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	ft := &s.faults
	ft.mu.Lock()
	defer ft.mu.Unlock()
	rules := ft.rates[m][:0:0]
	for _, r := range ft.rates[m] {
		if r.f.Kind != f.Kind {
			rules = append(rules, r)
		}
	}
	if p > 0 {
		rules = append(rules, faultRule{p: min(p, 1), f: f})
	}
	if len(rules) == 0 {
		delete(ft.rates, m)
	} else {
		ft.rates[m] = rules
	}
	ft.updateActive()
	return nil
}

// ScriptFaults makes the next len(faults) calls of method ("" or "*": any
// method) fail with faults, in order. A script is used before rates.
func (s *Server) ScriptFaults(method string, faults ...Fault) error {
	m, err := methodKey(method)
	if err != nil {
		return err
	}
	for i := range faults {
		if err := faults[i].validate(); err != nil {
			return err
		}
	}
	ft := &s.faults
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.script[m] = append(ft.script[m], faults...)
	ft.updateActive()
	return nil
}

// ClearFaults removes every fault rule and script.
func (s *Server) ClearFaults() {
	ft := &s.faults
	ft.mu.Lock()
	defer ft.mu.Unlock()
	clear(ft.rates)
	clear(ft.script)
	ft.updateActive()
}

const badGatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// applyPreFault answers a call with a "before" fault. It returns the status
// to count, or 0 when the call is to be served after all (a hang that
// lasted its Duration).
func (s *Server) applyPreFault(w http.ResponseWriter, r *http.Request, f *Fault) int {
	s.c.faults[f.Kind.index()].Add(1)
	switch f.Kind {
	case FaultInternal:
		writeError(w, &apiError{Code: 500, Desc: "Internal Server Error"})
		return 500
	case FaultBadGateway:
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", strconv.Itoa(len(badGatewayPage)))
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte(badGatewayPage))
		return 502
	case FaultTooMany:
		ra := max(f.RetryAfter, 1)
		writeError(w, &apiError{Code: 429, Desc: "Too Many Requests: retry after " + strconv.Itoa(ra), RetryAfter: ra})
		return 429
	}
	// Read the body first (if small): net/http notices a client that goes
	// away only once the request body was read to its end.
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.maxBody+1))
		if err == nil && int64(len(b)) <= s.cfg.maxBody {
			r.Body = io.NopCloser(bytes.NewReader(b))
		} else {
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		}
	}
	d := f.Duration
	if d <= 0 {
		d = 60 * time.Second
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0
	case <-r.Context().Done():
		return 499
	case <-s.done:
		writeError(w, errClosing)
		return 500
	}
}

// writeFaulty writes body (status) spoiled by an "after" fault and returns
// the status to count (0: no complete answer was sent).
func (s *Server) writeFaulty(w http.ResponseWriter, r *http.Request, f *Fault, status int, body []byte) int {
	s.c.faults[f.Kind.index()].Add(1)
	switch f.Kind {
	case FaultCut:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, bw, err := hj.Hijack()
		if err != nil {
			return 0
		}
		writeRawHead(bw, status, len(body))
		bw.Write(body[:len(body)/2])
		bw.Flush()
		conn.Close()
		return 0
	case FaultMalformed:
		writeJSON(w, status, body[:len(body)/2])
		return status
	case FaultHuge:
		size := f.Size
		if size <= 0 {
			size = 16 << 20
		}
		head, tail := `{"_padding":"`, `",`
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.FormatInt(int64(len(head))+size+int64(len(tail))+int64(len(body)-1), 10))
		w.WriteHeader(status)
		w.Write([]byte(head))
		pad := []byte(strings.Repeat("x", 32<<10))
		for left := size; left > 0; {
			n := min(left, int64(len(pad)))
			if _, err := w.Write(pad[:n]); err != nil {
				return 0
			}
			left -= n
		}
		w.Write([]byte(tail))
		w.Write(body[1:])
		return status
	}
	// FaultTrickle
	d := f.Duration
	if d <= 0 {
		d = 2 * time.Second
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	const pieces = 16
	t := time.NewTicker(d / pieces)
	defer t.Stop()
	for i := 0; i < pieces; i++ {
		lo, hi := len(body)*i/pieces, len(body)*(i+1)/pieces
		if _, err := w.Write(body[lo:hi]); err != nil {
			return 0
		}
		rc.Flush()
		if i == pieces-1 {
			break
		}
		select {
		case <-t.C:
		case <-r.Context().Done():
			return 499
		case <-s.done:
			return 0
		}
	}
	return status
}

func writeRawHead(bw *bufio.ReadWriter, status, length int) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		status, http.StatusText(status), length)
}
