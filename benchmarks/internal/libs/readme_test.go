package libs

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tidygram/tidygram/internal/readme"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The migration guide of the root README shows each library's echo bot
// beside tidygram's: those snippets compile against the versions this
// module benchmarks (tidygram's own snippets are compiled by the examples
// package of the root module).
func TestREADMEMigrationSnippetsCompile(t *testing.T) {
	token := "var token string"
	readme.Compile(t, "../../../README.md", "../..", []readme.Snippet{
		{First: "// go-telegram-bot-api/v5", Imports: []string{"tgbotapi github.com/go-telegram-bot-api/telegram-bot-api/v5"}, Pre: token},
		{First: "// telebot v3 (gopkg.in/telebot.v3)", Imports: []string{"time", "tele gopkg.in/telebot.v3"}, Pre: token},
		{First: "// telego v1", Imports: []string{"context", "github.com/mymmrac/telego",
			"th github.com/mymmrac/telego/telegohandler", "tu github.com/mymmrac/telego/telegoutil"}, Pre: "var ctx context.Context\n" + token},
		{First: "", Skip: "tidygram's own: compiled by the root module's examples package"},
	}, 3)
}
