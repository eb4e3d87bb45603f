// Package examples holds runnable bots, one a directory, each with a test
// against the emulator (tgtest). This package has only tests: every Go
// snippet of the README compiles, wrapped in the declarations it takes for
// granted (here, or, for the migration guide's other libraries, in the
// benchmarks module, which has them).
package examples

import (
	"testing"

	"github.com/tidygram/tidygram/internal/readme"
	"github.com/tidygram/tidygram/leak/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

const migrationGuide = "another library (migration guide): compiled by benchmarks/internal/libs, whose module has it"

// readmeSnippets says how to compile each Go snippet of the README.
var readmeSnippets = []readme.Snippet{
	{First: "package main", File: true},
	{First: "client, err := tg.NewClient(token)", Imports: []string{"context", "errors", "github.com/tidygram/tidygram/tg"},
		Pre: "var ctx context.Context\nvar token string\nvar chatID int64", Post: "_ = msg"},
	{First: "bot.Group(nil, func(r *router.Router) {", Imports: []string{"time", "github.com/tidygram/tidygram", "github.com/tidygram/tidygram/router",
		"github.com/tidygram/tidygram/router/format", "github.com/tidygram/tidygram/session", "github.com/tidygram/tidygram/tg"},
		// what the snippet's comments declare, and the reader's handlers
		Pre: `var bot *tidygram.Bot
type Order struct{ Size, Address string }
type Page struct{ N int }
order := router.NewConversation[Order](session.NewMemory()).Steps("size", "address")
pages := router.NewCallback[Page]("pg")
var loadUser router.Middleware
var isAdmin router.ContextFilter
var ban, saveSize, referral router.Handler
var sizes []tg.KeyboardButton`, Elided: "{ return nil }"},
	{First: `s, err := jetstream.Open(ctx, jetstream.Embedded("/var/lib/mybot/spool"))`, Imports: []string{"context", "github.com/tidygram/tidygram", "github.com/tidygram/tidygram/jetstream"},
		Pre: "var ctx context.Context\nvar token string", Post: "_ = bot"},
	{First: "s, err := jetstream.Open(ctx,", Imports: []string{"context", "github.com/nats-io/nats.go", "github.com/tidygram/tidygram", "github.com/tidygram/tidygram/jetstream", "github.com/tidygram/tidygram/limit", "github.com/tidygram/tidygram/session"},
		Pre: "var ctx context.Context\nvar token string\ntype Cart struct{}", Post: "_, _, _ = bot, cart, err"},
	{First: "func TestStart(t *testing.T) {", File: true, Imports: []string{"testing", "github.com/tidygram/tidygram", "github.com/tidygram/tidygram/bottest", "github.com/tidygram/tidygram/tgtest"}},
	{First: "// go-telegram-bot-api/v5", Skip: migrationGuide},
	{First: "// tidygram", Imports: []string{"context", "github.com/tidygram/tidygram"},
		Pre: "var ctx context.Context\nvar token string", Post: "_ = err"},
	{First: "// telebot v3 (gopkg.in/telebot.v3)", Skip: migrationGuide},
	{First: "// telego v1 (github.com/mymmrac/telego; th = telegohandler, tu = telegoutil)", Skip: migrationGuide},
}

// The README's Go snippets compile (go build through an overlay: nothing
// is written to the tree).
func TestREADMESnippetsCompile(t *testing.T) {
	readme.Compile(t, "../README.md", "..", readmeSnippets, 8)
}
