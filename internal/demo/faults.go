package demo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidygram/tidygram/tgtest"
)

// FaultRule injects one kind of fault into a share of one method's calls.
type FaultRule struct {
	Method      string // Bot API method, "*" for every method
	Fault       tgtest.Fault
	Probability float64 // 0 < p ≤ 1
}

func (r FaultRule) String() string {
	s := fmt.Sprintf("%s:%s:%g", r.Method, r.Fault.Kind, r.Probability)
	switch {
	case r.Fault.Kind == tgtest.FaultTooMany && r.Fault.RetryAfter > 0:
		s += ":" + strconv.Itoa(r.Fault.RetryAfter)
	case r.Fault.Duration > 0:
		s += ":" + r.Fault.Duration.String()
	}
	return s
}

// DefaultFaultSpec is what --faults on (or default) injects: every
// getUpdates failure Telegram and the proxies in front of it produce — 502
// pages, hung requests, 429 with retry_after and connections cut after the
// updates were handed out — plus 429s on sendMessage and 502s on getFile.
// sendMessage gets no 502 or cut: those leave it unknown whether the
// message was sent, and a reply sent twice or never is then the correct
// outcome rather than a fault of the bot.
const DefaultFaultSpec = "getUpdates:502:0.2,getUpdates:hang:0.05:1s,getUpdates:429:0.1:1," +
	"getUpdates:cut:0.15,sendMessage:429:0.01:1,getFile:502:0.1"

// ErrFaultSpec is wrapped by every error of ParseFaults.
var ErrFaultSpec = errors.New("bad fault spec")

// faultKinds are the kinds a spec may name.
var faultKinds = []tgtest.FaultKind{
	tgtest.FaultInternal, tgtest.FaultBadGateway, tgtest.FaultTooMany, tgtest.FaultHang,
	tgtest.FaultCut, tgtest.FaultTrickle, tgtest.FaultMalformed, tgtest.FaultHuge,
}

// ParseFaults reads a fault spec: "off" (or "none", "" : no faults), "on" or
// "default" (DefaultFaultSpec), or comma-separated rules
// method:kind:probability[:arg] where kind is one of 500, 502, 429, hang,
// cut, trickle, malformed, huge; arg is retry_after in seconds for 429 and a
// duration ("2s") for hang and trickle. Example:
//
//	getUpdates:502:0.2,sendMessage:429:0.05:1,getUpdates:hang:0.05:2s
func ParseFaults(spec string) ([]FaultRule, error) { return ParseFaultsWith(spec, DefaultFaultSpec) }

// ParseFaultsWith is ParseFaults with another spec for "on" and "default".
func ParseFaultsWith(spec, defaultSpec string) ([]FaultRule, error) {
	switch strings.ToLower(strings.TrimSpace(spec)) {
	case "", "off", "none", "false", "0":
		return nil, nil
	case "on", "default", "true", "1":
		spec = defaultSpec
	}
	var rules []FaultRule
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, ":")
		if len(f) < 3 || len(f) > 4 {
			return nil, fmt.Errorf("%w: %q: want method:kind:probability[:arg]", ErrFaultSpec, part)
		}
		r := FaultRule{Method: f[0]}
		if r.Method == "" {
			return nil, fmt.Errorf("%w: %q: empty method", ErrFaultSpec, part)
		}
		kind := tgtest.FaultKind(strings.ToLower(f[1]))
		known := false
		for _, k := range faultKinds {
			known = known || k == kind
		}
		if !known {
			return nil, fmt.Errorf("%w: %q: unknown fault kind %q", ErrFaultSpec, part, f[1])
		}
		r.Fault.Kind = kind
		p, err := strconv.ParseFloat(f[2], 64)
		if err != nil || !(p > 0 && p <= 1) {
			return nil, fmt.Errorf("%w: %q: probability must be in (0, 1]", ErrFaultSpec, part)
		}
		r.Probability = p
		if len(f) == 4 {
			switch kind {
			case tgtest.FaultTooMany:
				n, err := strconv.Atoi(f[3])
				if err != nil || n < 1 || n > 3600 {
					return nil, fmt.Errorf("%w: %q: retry_after must be 1–3600 seconds", ErrFaultSpec, part)
				}
				r.Fault.RetryAfter = n
			case tgtest.FaultHang, tgtest.FaultTrickle:
				d, err := time.ParseDuration(f[3])
				if err != nil || d <= 0 || d > time.Hour {
					return nil, fmt.Errorf("%w: %q: duration must be in (0, 1h]", ErrFaultSpec, part)
				}
				r.Fault.Duration = d
			default:
				return nil, fmt.Errorf("%w: %q: fault %s takes no argument", ErrFaultSpec, part, kind)
			}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// FormatFaults writes rules back as a spec.
func FormatFaults(rules []FaultRule) string {
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}

// ApplyFaults sets rules on srv.
func ApplyFaults(srv *tgtest.Server, rules []FaultRule) error {
	for _, r := range rules {
		if err := srv.SetFaultRate(r.Method, r.Probability, r.Fault); err != nil {
			return fmt.Errorf("demo: fault %s: %w", r, err)
		}
	}
	return nil
}
