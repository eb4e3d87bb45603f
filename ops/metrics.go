package ops

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/observe"
	"github.com/tidygram/tidygram/spool"
	"github.com/tidygram/tidygram/tg"
)

// Results of a Bot API call (see CallResult). Keep to these (or a few
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
// collectors, in a registry of their own. *Metrics implements
// observe.Observer: give it to a bot with tidygram.WithObserver. Every method is safe for
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
// growth_alarms_total{resource}, handlers_abandoned_total{handler},
// session_entries, api_open_connections, and with a spool spool_depth,
// spool_leading, spool_redelivered_total, spool_lease_changes_total.
// Label values come from code (update kinds, route names, method names),
// never from user input, so the number of series stays bounded: a method
// label is a Bot API method's documented name or "other" (MethodOther).
//
// For the ops page (see Server) they also keep running totals, the last
// 1,024 handler run times (8 KB, written without a lock) and the latest
// leak report, abandonment and alarm of each handler or resource (at most
// 64).
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

	abandoned *prometheus.CounterVec

	queueDepth, inFlight, sessionSize, openConns atomic.Pointer[func() int]
	state                                        atomic.Pointer[observe.State]

	live live // what the ops page samples (see Server)
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
	m.abandoned = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "handlers_abandoned_total",
		Help: "Handlers abandoned still running past their timeout and grace, by handler."}, []string{"handler"})
	c.reg.MustRegister(m.received, m.handled, m.latency, m.apiCalls, m.retries, m.retryWait, m.limiterWait,
		m.leaked, m.proven, m.unclosed, m.alarms, m.abandoned,
		m.gaugeFunc("updates_queued", "Updates queued or running in the dispatch pool.", &m.queueDepth),
		m.gaugeFunc("updates_in_flight", "Handlers running now.", &m.inFlight),
		m.gaugeFunc("session_entries", "Entries in the session store.", &m.sessionSize),
		m.gaugeFunc("api_open_connections", "Open connections to the Bot API.", &m.openConns),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "spool_depth",
			Help: "Updates in the spool not yet handled (tidygram.WithSpool)."}, m.spoolStat(func(s spool.Stats) float64 { return float64(s.Depth) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "spool_leading",
			Help: "1 while this instance holds the spool's poll lease."}, m.spoolStat(func(s spool.Stats) float64 {
			if s.Leading {
				return 1
			}
			return 0
		})),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "spool_redelivered_total",
			Help: "Updates the spool delivered again (after a stop, a crash or a failover)."}, m.spoolStat(func(s spool.Stats) float64 { return float64(s.Redelivered) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "spool_lease_changes_total",
			Help: "Times this instance gained or lost a spool lease (poll or partition)."}, m.spoolStat(func(s spool.Stats) float64 { return float64(s.LeaseChanges) })),
	)
	return m
}

// spoolStat reads one figure of the running bot's spool stats (0 without
// a bot or a spool).
func (m *Metrics) spoolStat(f func(spool.Stats) float64) func() float64 {
	return func() float64 {
		if st := m.bot(); st != nil && st.Spool != nil {
			return f(st.Spool())
		}
		return 0
	}
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

// Start implements observe.Observer: the gauges read the running bot's
// live state at each scrape, and a Server using these metrics answers
// /readyz with the bot's readiness unless WithReady says otherwise.
func (m *Metrics) Start(st observe.State) {
	if m == nil {
		return
	}
	m.QueueDepth(st.QueueDepth)
	m.InFlight(st.InFlight)
	m.OpenConns(st.OpenConns)
	m.SessionSize(st.SessionEntries)
	m.state.Store(&st)
}

// bot returns the state the last Start gave, nil before.
func (m *Metrics) bot() *observe.State {
	if m == nil {
		return nil
	}
	return m.state.Load()
}

// UpdateReceived implements observe.Observer: counts an update of its
// kind ("message", "callback_query", …) unless it is a duplicate.
func (m *Metrics) UpdateReceived(u *tg.Update, duplicate bool) {
	if m != nil && !duplicate {
		m.received.WithLabelValues(u.Kind()).Inc()
		m.live.received.Add(1)
	}
}

// UpdateHandled implements observe.Observer: counts an update whose
// handler for route returned after d with err (nil: ok) and records its
// latency. route is "" for updates no route matched.
func (m *Metrics) UpdateHandled(u *tg.Update, route string, d time.Duration, err error) {
	if m == nil {
		return
	}
	result := ResultOK
	if err != nil {
		result = ResultError
	}
	m.handled.WithLabelValues(u.Kind(), route, result).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
	m.live.handled.Add(1)
	m.live.latency(d)
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

// APICall implements observe.Observer: counts a Bot API call to method
// by its result (see CallResult). The method label is the method's
// documented name, or MethodOther for a name that is not a Bot API method.
func (m *Metrics) APICall(method string, _ time.Duration, err error) {
	if m == nil {
		return
	}
	result := CallResult(err)
	m.apiCalls.WithLabelValues(methodLabel(method), result).Inc()
	m.live.apiCalls.Add(1)
	if result == ResultRateLimited {
		m.live.api429.Add(1)
	}
}

// CallResult classifies an API call's error into one of the Result
// constants.
func CallResult(err error) string {
	var apiErr *tg.APIError
	var netErr *tg.NetworkError
	var respErr *tg.ResponseError
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ResultCancelled
	case errors.As(err, &apiErr) && apiErr.ErrorCode == 429:
		return ResultRateLimited
	case errors.As(err, &apiErr):
		return ResultError
	case errors.As(err, &netErr):
		return ResultNetwork
	case errors.As(err, &respErr):
		return ResultBadResponse
	}
	return ResultError
}

// PollFailed implements observe.Observer (failed polls show in
// api_calls_total{method="getUpdates"}).
func (m *Metrics) PollFailed(error, time.Duration) {}

// LimiterWaited implements observe.Observer: records a flood-control wait.
func (m *Metrics) LimiterWaited(_ string, d time.Duration) {
	if m != nil {
		m.limiterWait.Observe(d.Seconds())
	}
}

// LimiterRetrying implements observe.Observer: counts a retry of method
// after wait (method label as in APICall).
func (m *Metrics) LimiterRetrying(method string, wait time.Duration, _ error) {
	if m != nil {
		label := methodLabel(method)
		m.retries.WithLabelValues(label).Inc()
		m.retryWait.WithLabelValues(label).Add(wait.Seconds())
	}
}

// Leaked implements observe.Observer: counts the goroutines of r's
// handler that outlived their update.
func (m *Metrics) Leaked(r leak.Report) {
	if m != nil && r.Count > 0 {
		m.leaked.WithLabelValues(r.Handler).Add(float64(r.Count))
		m.live.leaked(r)
	}
}

// HandlerAbandoned implements observe.Observer: counts the abandoned
// handler and the goroutines it left (at least the one running it).
func (m *Metrics) HandlerAbandoned(r leak.Report, ran time.Duration) {
	if m != nil {
		m.abandoned.WithLabelValues(r.Handler).Inc()
		m.leaked.WithLabelValues(r.Handler).Add(float64(max(r.Count, 1)))
		m.live.abandoned(r, ran)
	}
}

// ProvenLeaked sets the goroutines proven leaked at the last read of the
// goroutineleak profile.
func (m *Metrics) ProvenLeaked(n int) {
	if m != nil {
		m.proven.Set(float64(n))
	}
}

// BodyUnclosed implements observe.Observer: counts a response body
// collected without Close.
func (m *Metrics) BodyUnclosed(leak.Unclosed) {
	if m != nil {
		m.unclosed.Inc()
	}
}

// Alarm implements observe.Observer: counts a watchdog alarm by resource.
func (m *Metrics) Alarm(a leak.Alarm) {
	if m != nil {
		m.alarms.WithLabelValues(a.Resource).Inc()
		m.live.alarm(a)
	}
}

var _ observe.Observer = (*Metrics)(nil)
