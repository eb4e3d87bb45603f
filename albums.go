package tidygram

import (
	"context"
	"time"

	"github.com/tidygram/tidygram/internal/album"
)

// DefaultAlbumWait is how long an album being collected waits for its next
// part (500 ms after the last one); see WithAlbums.
const DefaultAlbumWait = album.DefaultWait

// Album limits: Telegram sends at most 10 parts per album, and at most
// 1000 albums are collected at once (past that, a new album's parts are
// handled one by one).
const (
	MaxAlbumParts     = album.MaxParts
	MaxAlbumsInFlight = album.DefaultMaxAlbums
)

// WithAlbums makes the bot collect albums (media groups) before dispatch:
// the updates of one album (same media_group_id, same chat) are handled as
// one update by the route of the first part, whose Context.Album returns
// every part's message. An album is handed to the workers wait after its
// last part arrived (0: DefaultAlbumWait; keep it well above 200 ms, the
// poller's pace while updates are held), as soon as it has
// MaxAlbumParts parts, or as soon as another update of the same chat
// arrives (so the chat's order holds). No goroutine runs per album (a
// timer each); every part is confirmed to Telegram only after the album's
// handler ended, and albums being collected at stop are queued for the
// drain like any update (within StopGrace; otherwise they stay
// unconfirmed and come again). OnAlbum turns collection on by itself.
//
// The observer sees every part received and the album handled once, as
// its first part's update.
//
// Albums are collected when polling and for webhooks with AckImmediately;
// with a webhook that answers after the handler (the default) Telegram
// sends a chat's next update only after the answer, so each part is
// handled alone (Context.Album then holds the part's own message) —
// unless the bot has a spool (WithSpool): then the webhook answers once
// the spool holds a part, and albums are collected from the spool's
// deliveries, an album Redelivered if any part is.
func WithAlbums(wait time.Duration) Option {
	return func(c *config) error {
		if wait < 0 {
			return optErr("WithAlbums", "wait %v is negative", wait)
		}
		if wait == 0 {
			wait = DefaultAlbumWait
		}
		c.albumWait = wait
		return nil
	}
}

// collectsAlbums reports whether this run collects albums.
func (b *Bot) collectsAlbums() bool {
	if b.cfg.albumWait <= 0 {
		return false
	}
	// With a spool, albums are collected from the spool's deliveries,
	// whatever the source.
	return b.cfg.spool != nil || b.cfg.webhook == nil || b.cfg.webhook.AckImmediately
}

// poolContext returns the context the pool runs with: runCtx, or — when
// albums are collected — one that ends only after the albums held at the
// stop were queued (within StopGrace), so that the drain handles them.
func (b *Bot) poolContext(runCtx context.Context, st *runState) context.Context {
	if st.albums == nil {
		return runCtx
	}
	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(runCtx))
	context.AfterFunc(runCtx, func() {
		defer stopPool()
		b.id.Do(runCtx, "albums", func(ctx context.Context) {
			flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), StopGrace)
			defer cancel()
			st.albums.Stop(flush)
		})
	})
	return poolCtx
}
