package ops

import (
	"regexp"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tidygram/tidygram/limit"
	"github.com/tidygram/tidygram/tg"
)

// Results of a Bot API call, for Metrics.APICall. Keep to these (or a few
// more of your own): every distinct value is a time series.
const (
	ResultOK          = "ok"          // Telegram answered ok: true
	ResultError       = "error"       // Telegram answered ok: false (other than 429)
	ResultRateLimited = "429"         // Too Many Requests
	ResultNetwork     = "network"     // no answer: dial, TLS, reset, timeout
	ResultCancelled   = "cancelled"   // the caller's context ended first
	ResultBadResponse = "badresponse" // an answer that is not the Bot API's envelope
)

// Metrics are tidygram's Prometheus metrics, with the Go and process
// collectors, in a registry of their own. Every method is safe for
// concurrent use and does nothing on a nil *Metrics, so the runtime can
// call them whether or not metrics are configured.
//
// Series (all prefixed tidygram_): updates_received_total{kind},
// updates_handled_total{kind,route,result} (result "ok" or "error"),
// handler_duration_seconds{route} (histogram), updates_queued,
// updates_in_flight, api_calls_total{method,result},
// api_retries_total{method}, api_retry_wait_seconds_total{method},
// limiter_wait_seconds (histogram), leaked_goroutines_total{handler},
// goroutines_proven_leaked, response_bodies_unclosed_total,
// growth_alarms_total{resource}, session_entries, api_open_connections.
// Label values come from code (update kinds, route names, method names),
// never from user input, so the number of series stays bounded: a method
// label is a Bot API method's documented name or "other" (MethodOther).
type Metrics struct {
	reg *prometheus.Registry

	received    *prometheus.CounterVec
	handled     *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	apiCalls    *prometheus.CounterVec
	retries     *prometheus.CounterVec
	retryWait   *prometheus.CounterVec
	limiterWait prometheus.Histogram
	leaked      *prometheus.CounterVec
	proven      prometheus.Gauge
	unclosed    prometheus.Counter
	alarms      *prometheus.CounterVec

	queueDepth, inFlight, sessionSize, openConns atomic.Pointer[func() int]
}

// MetricsOption configures NewMetrics.
type MetricsOption func(*metricsConfig)

type metricsConfig struct {
	reg     *prometheus.Registry
	noStd   bool
	buckets []float64
}

// WithRegistry registers the metrics in reg instead of a new registry.
func WithRegistry(reg *prometheus.Registry) MetricsOption {
	return func(c *metricsConfig) { c.reg = reg }
}

// WithoutStandardCollectors leaves out the Go and process collectors (for a
// registry that has them already).
func WithoutStandardCollectors() MetricsOption { return func(c *metricsConfig) { c.noStd = true } }

// WithLatencyBuckets sets the handler latency histogram's buckets in
// seconds (default 5 ms to 30 s, 12 buckets).
func WithLatencyBuckets(b []float64) MetricsOption { return func(c *metricsConfig) { c.buckets = b } }

// NewMetrics creates and registers the metrics. The Go collector includes
// the scheduler, GC and memory runtime/metrics (goroutines created, live
// heap, stacks), the signals leak alerts are written against.
func NewMetrics(opts ...MetricsOption) *Metrics {
	c := metricsConfig{buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}
	for _, o := range opts {
		o(&c)
	}
	if c.reg == nil {
		c.reg = prometheus.NewRegistry()
	}
	m := &Metrics{reg: c.reg}
	if !c.noStd {
		c.reg.MustRegister(
			collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
				collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/(sched|gc/heap/live|memory/classes/heap/stacks)`)})),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	const ns = "tidygram"
	m.received = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "updates_received_total",
		Help: "Updates received from Telegram, by kind."}, []string{"kind"})
	m.handled = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "updates_handled_total",
		Help: "Updates whose handler returned, by kind, route and result (ok or error; a panic is an error)."}, []string{"kind", "route", "result"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "handler_duration_seconds",
		Help: "Handler run time, by route.", Buckets: c.buckets}, []string{"route"})
	m.apiCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "api_calls_total",
		Help: "Bot API calls, by method and result."}, []string{"method", "result"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "api_retries_total",
		Help: "Bot API calls retried after a wait (429 retry_after or a network error), by method."}, []string{"method"})
	m.retryWait = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "api_retry_wait_seconds_total",
		Help: "Time spent waiting before retries, by method."}, []string{"method"})
	m.limiterWait = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "limiter_wait_seconds",
		Help: "Time calls waited for the flood limiter.", Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60}})
	m.leaked = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "leaked_goroutines_total",
		Help: "Goroutines found alive after their update's grace period, by handler."}, []string{"handler"})
	m.proven = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "goroutines_proven_leaked",
		Help: "Goroutines the goroutineleak profile proved leaked at its last read."})
	m.unclosed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "response_bodies_unclosed_total",
		Help: "HTTP response bodies garbage-collected without Close."})
	m.alarms = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "growth_alarms_total",
		Help: "Sustained-growth alarms of the leak watchdog, by resource."}, []string{"resource"})
	c.reg.MustRegister(m.received, m.handled, m.latency, m.apiCalls, m.retries, m.retryWait, m.limiterWait,
		m.leaked, m.proven, m.unclosed, m.alarms,
		m.gaugeFunc("updates_queued", "Updates queued or running in the dispatch pool.", &m.queueDepth),
		m.gaugeFunc("updates_in_flight", "Handlers running now.", &m.inFlight),
		m.gaugeFunc("session_entries", "Entries in the session store.", &m.sessionSize),
		m.gaugeFunc("api_open_connections", "Open connections to the Bot API.", &m.openConns),
	)
	return m
}

// gaugeFunc is a gauge reading the function in p (0 while it is unset).
func (m *Metrics) gaugeFunc(name, help string, p *atomic.Pointer[func() int]) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tidygram", Name: name, Help: help}, func() float64 {
		if f := p.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
}

// Registry returns the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// UpdateReceived counts an update of kind ("message", "callback_query", …).
func (m *Metrics) UpdateReceived(kind string) {
	if m != nil {
		m.received.WithLabelValues(kind).Inc()
	}
}

// UpdateHandled counts an update whose handler for route returned after d
// with err (nil: ok). route is "" for updates no route matched.
func (m *Metrics) UpdateHandled(kind, route string, d time.Duration, err error) {
	if m == nil {
		return
	}
	result := ResultOK
	if err != nil {
		result = ResultError
	}
	m.handled.WithLabelValues(kind, route, result).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// QueueDepth makes updates_queued read f at each scrape (f must be quick
// and safe for concurrent use; nil unsets it).
func (m *Metrics) QueueDepth(f func() int) {
	if m != nil {
		setFunc(&m.queueDepth, f)
	}
}

// InFlight makes updates_in_flight read f at each scrape.
func (m *Metrics) InFlight(f func() int) {
	if m != nil {
		setFunc(&m.inFlight, f)
	}
}

// SessionSize makes session_entries read f at each scrape.
func (m *Metrics) SessionSize(f func() int) {
	if m != nil {
		setFunc(&m.sessionSize, f)
	}
}

// OpenConns makes api_open_connections read f at each scrape.
func (m *Metrics) OpenConns(f func() int) {
	if m != nil {
		setFunc(&m.openConns, f)
	}
}

func setFunc(p *atomic.Pointer[func() int], f func() int) {
	if f == nil {
		p.Store(nil)
		return
	}
	p.Store(&f)
}

// MethodOther is the method label of every call to a name that is not a
// Bot API method (see tg.MethodName).
const MethodOther = "other"

// methodLabel returns the method label of a call: the documented spelling
// of a Bot API method of the version package tg was generated from,
// whatever the case it was called in, else MethodOther. Client.Call passes
// any string on, so the label is never the caller's string itself: the
// method labels are bounded by the spec's method count plus one.
func methodLabel(method string) string {
	if name, ok := tg.MethodName(method); ok {
		return name
	}
	return MethodOther
}

// APICall counts a Bot API call to method with result (one of the Result
// constants). The method label is the method's documented name, or
// MethodOther for a name that is not a Bot API method.
func (m *Metrics) APICall(method, result string) {
	if m != nil {
		m.apiCalls.WithLabelValues(methodLabel(method), result).Inc()
	}
}

// RetryWait counts a retry of method after waiting d; the method label is
// as in APICall.
func (m *Metrics) RetryWait(method string, d time.Duration) {
	if m != nil {
		label := methodLabel(method)
		m.retries.WithLabelValues(label).Inc()
		m.retryWait.WithLabelValues(label).Add(d.Seconds())
	}
}

// LimiterWait records a wait of d for the flood limiter.
func (m *Metrics) LimiterWait(d time.Duration) {
	if m != nil {
		m.limiterWait.Observe(d.Seconds())
	}
}

// Leaked counts n goroutines of handler that outlived their update.
func (m *Metrics) Leaked(handler string, n int) {
	if m != nil && n > 0 {
		m.leaked.WithLabelValues(handler).Add(float64(n))
	}
}

// ProvenLeaked sets the goroutines proven leaked at the last read of the
// goroutineleak profile.
func (m *Metrics) ProvenLeaked(n int) {
	if m != nil {
		m.proven.Set(float64(n))
	}
}

// BodyUnclosed counts a response body collected without Close.
func (m *Metrics) BodyUnclosed() {
	if m != nil {
		m.unclosed.Inc()
	}
}

// GrowthAlarm counts a watchdog alarm for resource.
func (m *Metrics) GrowthAlarm(resource string) {
	if m != nil {
		m.alarms.WithLabelValues(resource).Inc()
	}
}

// LimiterObserver returns a limit.Observer that records flood-control
// waits in limiter_wait_seconds and retries in api_retries_total and
// api_retry_wait_seconds_total. Install it with limit.WithObserver (the
// bot does so for its default flood control when it has metrics).
func (m *Metrics) LimiterObserver() limit.Observer {
	if m == nil {
		return limit.Observer{}
	}
	return limit.Observer{
		Waited:   func(_ string, d time.Duration) { m.LimiterWait(d) },
		Retrying: func(method string, wait time.Duration, _ error) { m.RetryWait(method, wait) },
	}
}
