package router

import (
	"context"

	"github.com/tidygram/tidygram/tg"
)

// albumKey is the context key of an album's parts.
type albumKey struct{}

// WithAlbum returns ctx carrying the parts of the album a handler runs for
// (the runtime sets it; see Context.Album).
func WithAlbum(ctx context.Context, parts []*tg.Message) context.Context {
	return context.WithValue(ctx, albumKey{}, parts)
}

// Album returns the messages of the album (media group) the update belongs
// to, in the order they arrived, when the bot collects albums
// (tidygram.Bot.OnAlbum, tidygram.WithAlbums): the handler then runs once
// per album, c.Update being its first part. Without collection (or for a
// part handled alone) it is the update's own message when that has a
// media_group_id, and nil for any update that is not part of an album.
func (c *Context) Album() []*tg.Message {
	if parts, ok := c.Value(albumKey{}).([]*tg.Message); ok {
		return parts
	}
	if m := c.Update.NewMessage(); m != nil && m.MediaGroupID != "" {
		return []*tg.Message{m}
	}
	return nil
}

// MediaGroup selects updates whose new message (message, business
// message, channel post) is part of an album: it has a media_group_id.
func MediaGroup() Filter {
	return func(u *tg.Update) bool {
		m := u.NewMessage()
		return m != nil && m.MediaGroupID != ""
	}
}
