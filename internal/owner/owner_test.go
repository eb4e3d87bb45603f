package owner

import (
	"context"
	"maps"
	"runtime/pprof"
	"testing"

	"github.com/tidygram/tidygram/leak"
	"github.com/tidygram/tidygram/tg"
)

func labelsOf(set pprof.LabelSet) map[string]string {
	got := map[string]string{}
	pprof.ForLabels(pprof.WithLabels(context.Background(), set), func(k, v string) bool { got[k] = v; return true })
	return got
}

// TestHandlerLabels: a handler run is labelled with the bot, the component,
// the route, the update and its chat (empty without one), and building the
// labels costs two allocations (the ids' string, the list): pprof.Labels'
// fast path, keys given in order.
func TestHandlerLabels(t *testing.T) {
	b := Bot("5f2c")
	tests := []struct {
		name string
		u    *tg.Update
		want map[string]string
	}{
		{"message", &tg.Update{UpdateID: 912345678, Message: &tg.Message{Chat: tg.Chat{ID: -1001234567890}}},
			map[string]string{leak.LabelBot: "5f2c", leak.LabelComponent: "handler", leak.LabelHandler: "/start", leak.LabelUpdateID: "912345678", leak.LabelChatID: "-1001234567890"}},
		{"no chat", &tg.Update{UpdateID: 7, InlineQuery: &tg.InlineQuery{ID: "q"}},
			map[string]string{leak.LabelBot: "5f2c", leak.LabelComponent: "handler", leak.LabelHandler: "/start", leak.LabelUpdateID: "7", leak.LabelChatID: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := labelsOf(b.Handler(tt.u, "/start")); !maps.Equal(got, tt.want) {
				t.Fatalf("labels %v, want %v", got, tt.want)
			}
			if n := testing.AllocsPerRun(100, func() { _ = b.Handler(tt.u, "/start") }); n > 2 {
				t.Fatalf("%v allocations per label set, want at most 2", n)
			}
		})
	}
	if got, want := labelsOf(b.Labels("poller")), map[string]string{leak.LabelBot: "5f2c", leak.LabelComponent: "poller"}; !maps.Equal(got, want) {
		t.Fatalf("component labels %v, want %v", got, want)
	}
}
