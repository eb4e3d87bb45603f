package tidygram

import "github.com/tidygram/tidygram/router"

// Routes and middleware. They are the router's (see package router); the
// bot forwards the registration methods only. Register before Run: the
// routes are frozen when Run starts.

// Routes lists the bot's routes in the order they are tried, each with
// its handler's function name as stacks and profiles show it.
func (b *Bot) Routes() []router.Route { return b.router.Routes() }

// Use adds middleware around every route, in order (the first is outermost).
func (b *Bot) Use(mw ...Middleware) { b.router.Use(mw...) }

// UseOuter adds middleware that runs for every update before routing, in
// order: it sees updates no route takes, may stop an update (by not calling
// next), and what it puts in the Context is visible to When's filters and
// to the handler. See router.Router.UseOuter.
func (b *Bot) UseOuter(mw ...Middleware) { b.router.UseOuter(mw...) }

// When returns a group whose routes also need every fs, filters that read
// the Context (what outer middleware attached, a conversation's step):
//
//	bot.When(router.InStep("address")).OnText(h)
func (b *Bot) When(fs ...router.ContextFilter) *router.Router { return b.router.When(fs...) }

// Handle adds a route named name for updates f selects; the first route
// whose filter matches handles an update.
func (b *Bot) Handle(name string, f Filter, h Handler) { b.router.Handle(name, f, h) }

// On adds a route for updates f selects, named after h.
func (b *Bot) On(f Filter, h Handler) { b.router.On(f, h) }

// OnCommand adds a route for the command /name (also /name@thisbot).
func (b *Bot) OnCommand(name string, h Handler) { b.router.OnCommand(name, h) }

// OnText adds a route for text messages.
func (b *Bot) OnText(h Handler) { b.router.OnText(h) }

// OnCallback adds a route for callback queries whose data is data.
func (b *Bot) OnCallback(data string, h Handler) { b.router.OnCallback(data, h) }

// Fallback sets the handler of updates no route takes (default: none; the
// update is confirmed unhandled).
func (b *Bot) Fallback(h Handler) { b.router.Fallback(h) }

// Group adds routes that apply only to updates f selects, with middleware
// of their own: fn registers them on g.
func (b *Bot) Group(f Filter, fn func(g *router.Router)) { b.router.Group(f, fn) }

// OnCallbackPrefix adds a route for callback queries whose data starts
// with prefix.
func (b *Bot) OnCallbackPrefix(prefix string, h Handler) { b.router.OnCallbackPrefix(prefix, h) }

// OnAlbum adds a route for albums (media groups: photos, videos,
// documents sent together) and turns on their collection (WithAlbums with
// DefaultAlbumWait unless given): h runs once per album, c.Update being
// its first part and c.Album() every part's message in order. Other routes
// see collected albums the same way (the first part routes the album).
func (b *Bot) OnAlbum(h Handler) {
	if b.cfg.albumWait <= 0 {
		b.cfg.albumWait = DefaultAlbumWait
	}
	b.router.Handle("album", router.MediaGroup(), h)
}
