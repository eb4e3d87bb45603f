package ops

import (
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
	"github.com/tidygram/tidygram/bottest"
	"github.com/tidygram/tidygram/leak/leaktest"
	"github.com/tidygram/tidygram/router"
	"github.com/tidygram/tidygram/tgtest"
)

func echo(c *tidygram.Context) error { return c.Reply(c.Text()) }

// /debug/routes answers the routes of the bot the server runs for, with
// their handler functions, behind the token; [] for a server without one.
func TestRoutesOfTheBot(t *testing.T) {
	leaktest.Check(t)
	if code, _, body := get(t, serve(t, New(WithToken(token)))+"/debug/routes", token); code != 200 || body != "[]\n" {
		t.Errorf("a server without a bot: %d %q", code, body)
	}

	srv := tgtest.NewServer(tgtest.WithTB(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	bot := bottest.New(t, srv, ForBot(WithListener(ln), WithToken(token)))
	bot.OnCommand("start", echo)
	bot.OnText(echo)
	running := bottest.Run(t, bot)
	defer func() {
		if err := running.Stop(); err != nil {
			t.Error(err)
		}
	}()
	want := []router.Route{
		{Name: "/start", Handler: "github.com/tidygram/tidygram/ops.echo"},
		{Name: "text", Handler: "github.com/tidygram/tidygram/ops.echo"},
	}
	var got []router.Route
	bottest.Eventually(t, 30*time.Second, "the bot's routes", func() bool {
		code, _, body := get(t, base+"/debug/routes", token)
		got = nil
		return code == 200 && json.Unmarshal([]byte(body), &got) == nil && len(got) > 0
	})
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("routes %+v, want %+v", got, want)
	}
	if code, _, _ := get(t, base+"/debug/routes", ""); code != 401 {
		t.Errorf("without the token: %d, want 401", code)
	}
}
