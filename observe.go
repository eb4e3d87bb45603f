package tidygram

import (
	"context"
	"errors"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/ops"
	"github.com/tidygram/tidygram/tg"
)

// WithLeakCheck sets the grace period after which goroutines still
// carrying a handled update's labels are reported as leaked by that
// handler (default leak.DefaultGrace, 30 s). The check is on by default;
// it reads one goroutine profile (no stop-the-world) per interval, and
// only while some update's grace is over.
func WithLeakCheck(grace time.Duration) Option {
	return func(c *config) { c.leakGrace, c.noLeakCheck = grace, false }
}

// WithoutLeakCheck turns the per-update leak check off.
func WithoutLeakCheck() Option { return func(c *config) { c.noLeakCheck = true } }

// WithLeakReport receives every per-update leak report (default: logged
// at warning level).
func WithLeakReport(f func(leak.Report)) Option { return func(c *config) { c.leakReport = f } }

// WithMetrics records the bot's metrics in m: updates received and handled
// by kind and route, handler latency, queue depth and in-flight handlers,
// Bot API calls by method and result, flood-control waits and retries,
// leaked goroutines by handler. Serve them with WithOps.
func WithMetrics(m *ops.Metrics) Option { return func(c *config) { c.metrics = m } }

// WithOps serves the ops endpoints (/metrics, /healthz, /readyz, and with
// a token /debug/pprof and /debug/goroutines; see package ops) while Run
// runs, on 127.0.0.1:9464 unless ops.WithAddr says otherwise. The server
// uses the bot's metrics (created if WithMetrics was not given) and its
// readiness: the Bot API answered getMe at start, and for webhooks
// getWebhookInfo shows no delivery error in the last 5 minutes.
func WithOps(opts ...ops.Option) Option {
	return func(c *config) { c.ops, c.opsOpts = true, append(c.opsOpts, opts...) }
}

// WithWatchdog runs a growth watchdog while Run runs (see leak.Watchdog):
// sustained growth of goroutines, live heap or open files over its window
// raises an alarm, logged with the fastest-growing owners and passed to
// onAlarm (which may be nil).
func WithWatchdog(onAlarm func(leak.Alarm), opts ...leak.WatchdogOption) Option {
	return func(c *config) {
		c.watchdog = true
		c.watchdogOpts = append(c.watchdogOpts, opts...)
		c.onAlarm = onAlarm
	}
}

// observe installs the configured observers: metrics hooks and client
// middleware, the leak check, the watchdog and the ops server, the last
// three as owned services.
func (b *Bot) observe() {
	cfg := &b.cfg
	if cfg.ops && cfg.metrics == nil {
		cfg.metrics = ops.NewMetrics()
	}
	if m := cfg.metrics; m != nil {
		cfg.clientOpts = append([]tg.Option{tg.WithMiddleware(apiMetrics(m))}, cfg.clientOpts...)
		m.QueueDepth(func() int {
			if st := b.state.Load(); st != nil {
				return st.pool.Len()
			}
			return 0
		})
		m.InFlight(func() int { return int(b.handling.Load()) })
		if cfg.sessionLen != nil {
			m.SessionSize(cfg.sessionLen)
		}
		m.OpenConns(func() int {
			open, _ := b.client.ConnStats()
			return int(open)
		})
	}
	if !cfg.noLeakCheck {
		opts := []leak.SurvivorOption{leak.WithReport(b.reportLeak)}
		if cfg.leakGrace > 0 {
			opts = append(opts, leak.WithGrace(cfg.leakGrace))
		}
		b.survivors = leak.NewSurvivors(b.id, opts...)
		cfg.services = append(cfg.services, Service{Name: "leak-check", Run: ignoreCancel(b.survivors.Run)})
	}
	if cfg.watchdog {
		opts := append([]leak.WatchdogOption{leak.WithAlarm(b.alarm)}, cfg.watchdogOpts...)
		cfg.services = append(cfg.services, Service{Name: "watchdog", Run: ignoreCancel(leak.NewWatchdog(opts...).Run)})
	}
	if cfg.ops {
		opts := append([]ops.Option{
			ops.WithMetrics(cfg.metrics),
			ops.WithLogger(b.log),
			ops.WithReady(b.ready),
			ops.WithDiagnose(leak.WithPoolSize(cfg.workers + 2)),
		}, cfg.opsOpts...)
		srv := ops.New(opts...)
		cfg.services = append(cfg.services, Service{Name: "ops", Run: ignoreCancel(srv.Run)})
	}
}

// ignoreCancel turns the cancellation that ends a service into a nil error.
func ignoreCancel(run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		err := run(ctx)
		if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err())) {
			return nil
		}
		return err
	}
}

func (b *Bot) reportLeak(r leak.Report) {
	b.cfg.metrics.Leaked(r.Handler, r.Count)
	if f := b.cfg.leakReport; f != nil {
		f(r)
		return
	}
	b.log.Warn("tidygram: goroutines outlived their update", "handler", r.Handler, "update_id", r.UpdateID, "count", r.Count, "report", r.String())
}

func (b *Bot) alarm(a leak.Alarm) {
	b.cfg.metrics.GrowthAlarm(a.Resource)
	b.log.Warn("tidygram: sustained growth", "alarm", a.String())
	if b.cfg.onAlarm != nil {
		b.cfg.onAlarm(a)
	}
}

// ready reports whether the bot can serve: Run has started (getMe
// answered) and, for webhooks, Telegram reports no recent delivery error.
func (b *Bot) ready(ctx context.Context) error {
	if b.state.Load() == nil || b.Me() == nil {
		return errors.New("bot not running")
	}
	if b.cfg.webhook == nil || b.cfg.webhook.URL == "" {
		return nil
	}
	info, err := b.client.GetWebhookInfo(ctx)
	if err != nil {
		return err
	}
	if info.LastErrorDate != 0 && time.Since(time.Unix(info.LastErrorDate, 0)) < 5*time.Minute {
		return errors.New("webhook delivery error: " + info.LastErrorMessage)
	}
	return nil
}

// apiMetrics counts Bot API calls by method and result.
func apiMetrics(m *ops.Metrics) tg.Middleware {
	return func(next tg.Invoker) tg.Invoker {
		return func(ctx context.Context, method string, params, result any) error {
			err := next(ctx, method, params, result)
			m.APICall(method, callResult(err))
			return err
		}
	}
}

func callResult(err error) string {
	var apiErr *tg.APIError
	var netErr *tg.NetworkError
	var respErr *tg.ResponseError
	switch {
	case err == nil:
		return ops.ResultOK
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ops.ResultCancelled
	case errors.As(err, &apiErr) && apiErr.ErrorCode == 429:
		return ops.ResultRateLimited
	case errors.As(err, &apiErr):
		return ops.ResultError
	case errors.As(err, &netErr):
		return ops.ResultNetwork
	case errors.As(err, &respErr):
		return ops.ResultBadResponse
	}
	return ops.ResultError
}
