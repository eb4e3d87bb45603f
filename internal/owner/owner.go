// Package owner names what a bot owns: the pprof labels every goroutine of
// a bot carries (the bot, the component, and for handler runs the handler,
// update and chat). It owns no goroutine and no state.
package owner

import (
	"context"
	"runtime/pprof"
	"strconv"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/tg"
)

// Bot is a bot's id, the value of its leak.LabelBot label.
type Bot string

// Labels returns the labels of a component of the bot.
func (b Bot) Labels(component string) pprof.LabelSet {
	return pprof.Labels(leak.LabelComponent, component, leak.LabelBot, string(b)) // keys sorted: pprof sorts no further
}

// Do runs fn with the bot's labels for component on the current goroutine
// (goroutines fn starts inherit them).
func (b Bot) Do(ctx context.Context, component string, fn func(context.Context)) {
	pprof.Do(ctx, b.Labels(component), fn)
}

// Handler returns the labels of a handler run: the bot, component
// "handler", the route, the update_id and the chat.
func (b Bot) Handler(u *tg.Update, route string) pprof.LabelSet {
	// both numbers in one string: one allocation instead of two
	buf := strconv.AppendInt(make([]byte, 0, 40), u.UpdateID, 10)
	n := len(buf)
	if c := u.Chat(); c != nil {
		buf = strconv.AppendInt(buf, c.ID, 10)
	}
	ids := string(buf)
	// keys in sorted order: pprof.Labels then neither sorts nor copies
	return pprof.Labels(leak.LabelChatID, ids[n:], leak.LabelComponent, "handler", leak.LabelHandler, route,
		leak.LabelBot, string(b), leak.LabelUpdateID, ids[:n])
}
