package ops

import "github.com/tidygram/tidygram"

// ForBot returns the option that gives a tidygram bot its ops server: the
// server's metrics observe the bot (tidygram.WithObserver) and the server
// runs as the bot's owned service while Run runs (tidygram.WithService),
// answering /readyz with the bot's readiness. opts configure the server
// (WithAddr, WithToken, …); without WithMetrics it gets a NewMetrics of
// its own.
//
//	bot, err := tidygram.New(token, ops.ForBot(ops.WithToken(os.Getenv("OPS_TOKEN"))))
func ForBot(opts ...Option) tidygram.Option {
	s := New(opts...)
	return tidygram.Options(tidygram.WithObserver(s.Metrics()), tidygram.WithService("ops", s.Run))
}
