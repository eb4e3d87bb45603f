package tidygram

import (
	"context"
	"errors"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/router"
)

// WithLeakCheck sets the grace period after which goroutines still
// carrying a handled update's labels are reported (to the observer) as
// leaked by that handler (default leak.DefaultGrace, 30 s; must be
// positive): between grace and grace + 2 check intervals after the handler
// returned (the interval is leak.DefaultInterval, 5 s, or the grace when
// shorter). See leak.Survivors.
//
// The check is on by default. Its memory does not grow with throughput:
// the ids of the handlers running now and at most leak.DefaultMaxSuspects
// updates whose goroutines outlived their handler. It reads one goroutine
// profile (no stop-the-world) per interval, and only when a handler ended
// since its last read or a suspect's grace is over: an idle bot reads
// nothing.
//
// Combined with WithoutLeakCheck, New fails.
func WithLeakCheck(grace time.Duration) Option {
	return func(c *config) error {
		if grace <= 0 {
			return optErr("WithLeakCheck", "grace %v: must be positive", grace)
		}
		c.leakGrace = grace
		return nil
	}
}

// WithoutLeakCheck turns the per-update leak check off. Combined with
// WithLeakCheck, New fails.
func WithoutLeakCheck() Option { return func(c *config) error { c.noLeakCheck = true; return nil } }

// WithWatchdog runs a growth watchdog while Run runs (see leak.Watchdog):
// sustained growth of goroutines, live heap or open files over its window
// raises an alarm, reported to the observer (and so logged) with the
// fastest-growing owners. With leak.WithHeapExplainer a heap alarm also
// names the fastest-growing allocation sites, each with its handler's
// route (the bot sets leak.WithRouteOf to its routes). The options are
// validated by leak.NewWatchdog when New builds the bot: an invalid one
// makes New fail with an *OptionError wrapping the *leak.OptionError.
func WithWatchdog(opts ...leak.WatchdogOption) Option {
	return func(c *config) error {
		c.watchdog = true
		c.watchdogOpts = append(c.watchdogOpts, opts...)
		return nil
	}
}

// observe installs the leak check (run on timers by startLeakCheck) and
// the watchdog (an owned service), both reporting to the bot's observer.
// An option the leak package refuses is an *OptionError.
func (b *Bot) observe() error {
	cfg := &b.cfg
	if !cfg.noLeakCheck {
		opts := []leak.SurvivorOption{leak.WithReport(b.obs.Leaked)}
		if cfg.leakGrace > 0 {
			opts = append(opts, leak.WithGrace(cfg.leakGrace))
		}
		s, err := leak.NewSurvivors(string(b.id), opts...) // checks on timers while Run runs (startLeakCheck)
		if err != nil {
			return wrapErr("WithLeakCheck", err)
		}
		b.survivors = s
	}
	if cfg.watchdog {
		opts := append([]leak.WatchdogOption{leak.WithAlarm(b.obs.Alarm), leak.WithRouteOf(b.routeOf)}, cfg.watchdogOpts...)
		w, err := leak.NewWatchdog(opts...)
		if err != nil {
			return wrapErr("WithWatchdog", err)
		}
		cfg.services = append(cfg.services, Service{Name: "watchdog", Run: ignoreCancel(w.Run)})
	}
	return nil
}

// routeOf returns the name of the first route whose handler is the
// function fn (as stacks name it), or "": a heap profile names functions,
// the watchdog's alarms name routes with it.
func (b *Bot) routeOf(fn string) string {
	routes := b.router.Routes()
	if i := slices.IndexFunc(routes, func(r router.Route) bool { return r.Handler == fn }); i >= 0 {
		return routes[i].Name
	}
	return ""
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

// startLeakCheck runs the per-update leak check on timers, under the
// bot's labels, until the returned stop; without it, stop does nothing.
func (b *Bot) startLeakCheck(ctx context.Context) (stop func()) {
	if b.survivors == nil {
		return func() {}
	}
	return b.survivors.Start(pprof.WithLabels(context.WithoutCancel(ctx), b.id.Labels("leak-check")))
}
