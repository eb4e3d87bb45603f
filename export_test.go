package tidygram

// given applies opts to the defaults, for the test helpers below; an
// invalid option leaves the rest unapplied (New reports it).
func given(opts []Option) config {
	c := defaults()
	for _, o := range opts {
		if err := o(&c); err != nil {
			break
		}
	}
	return c
}

// WebhookGiven reports whether opts include WithWebhook, for test helpers
// that add polling-only options (WithPollTimeout, WithBackoff) to every
// bot: with WithWebhook New refuses those.
func WebhookGiven(opts ...Option) bool { return given(opts).webhook != nil }

// FloodControlGiven reports whether opts include WithFloodControl, for
// test helpers that add WithoutFloodControl to every bot: New refuses the
// two together.
func FloodControlGiven(opts ...Option) bool { return given(opts).floodGiven }
