// Package examples holds runnable bots, one a directory, each with a test
// against the emulator (tgtest). This package has only tests: every Go
// snippet of the README either compiles, wrapped in the declarations it
// takes for granted, or is listed here with the reason it cannot.
package examples

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidygram/tidygram/leak/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

// readmeSnippet says how to compile a README snippet, known by its first
// line: as a whole file, or wrapped into main after declarations of what it
// uses; or not at all (skip gives the reason).
type readmeSnippet struct {
	first   string   // how the snippet's first line begins
	imports []string // of the wrapped file
	pre     string   // statements before the snippet, in main
	post    string   // statements after it (uses of what it declares)
	file    bool     // the snippet is a whole file, or top-level declarations
	skip    string
}

var readmeSnippets = []readmeSnippet{
	{first: "package main", file: true},
	{first: "client, err := tg.NewClient(token)", imports: []string{"context", "errors", "github.com/tidygram/tidygram/tg"},
		pre: "var ctx context.Context\nvar token string\nvar chatID int64", post: "_ = msg"},
	{first: "bot.Group(nil, func(r *router.Router) {", skip: "uses handlers and middleware the reader writes (loadUser, isAdmin, ban, saveSize, …)"},
	{first: `s, err := jetstream.Open(ctx, jetstream.Embedded("/var/lib/mybot/spool"))`, imports: []string{"context", "github.com/tidygram/tidygram", "github.com/tidygram/tidygram/jetstream"},
		pre: "var ctx context.Context\nvar token string", post: "_ = bot"},
	{first: "s, err := jetstream.Open(ctx,", imports: []string{"context", "github.com/nats-io/nats.go", "github.com/tidygram/tidygram", "github.com/tidygram/tidygram/jetstream", "github.com/tidygram/tidygram/limit", "github.com/tidygram/tidygram/session"},
		pre: "var ctx context.Context\nvar token string\ntype Cart struct{}", post: "_, _, _ = bot, cart, err"},
	{first: "func TestStart(t *testing.T) {", file: true, imports: []string{"testing", "github.com/tidygram/tidygram", "github.com/tidygram/tidygram/bottest", "github.com/tidygram/tidygram/tgtest"}},
	{first: "// go-telegram-bot-api/v5", skip: "another library (migration guide)"},
	{first: "// tidygram", imports: []string{"context", "github.com/tidygram/tidygram"},
		pre: "var ctx context.Context\nvar token string", post: "_ = err"},
	{first: "// telebot v3 (gopkg.in/telebot.v3)", skip: "another library (migration guide)"},
	{first: "// telego v1 (github.com/mymmrac/telego; th = telegohandler, tu = telegoutil)", skip: "another library (migration guide)"},
}

// goBlocks returns the ```go blocks of markdown, in order.
func goBlocks(markdown string) []string {
	var blocks []string
	var cur *strings.Builder
	for line := range strings.Lines(markdown) {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```go":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line)
		}
	}
	return blocks
}

// source returns the file that compiles snippet as sn says.
func (sn readmeSnippet) source(snippet string) string {
	// `…` stands for the reader's code: nothing, or leaving main.
	snippet = strings.ReplaceAll(snippet, "{ … }", "{ return }")
	if sn.file && len(sn.imports) == 0 {
		return snippet
	}
	var b strings.Builder
	b.WriteString("package main\n\nimport (\n")
	for _, imp := range sn.imports {
		fmt.Fprintf(&b, "\t%q\n", imp)
	}
	b.WriteString(")\n\n")
	if sn.file {
		b.WriteString(snippet + "\nfunc main() {}\n")
		return b.String()
	}
	fmt.Fprintf(&b, "func main() {\n%s\n%s\n%s\n}\n", sn.pre, snippet, sn.post)
	return b.String()
}

// The README's Go snippets compile (go build through an overlay: nothing
// is written to the tree), or are listed with the reason they cannot.
func TestREADMESnippetsCompile(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	md, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	overlay := map[string]map[string]string{"Replace": {}}
	var pkgs []string
	blocks := goBlocks(string(md))
	if len(blocks) == 0 {
		t.Fatal("no ```go block in the README")
	}
	for i, block := range blocks {
		first, _, _ := strings.Cut(block, "\n")
		var sn *readmeSnippet
		for j := range readmeSnippets {
			if strings.HasPrefix(first, readmeSnippets[j].first) {
				sn = &readmeSnippets[j]
				break
			}
		}
		switch {
		case sn == nil:
			t.Errorf("README snippet %d (%q) is unknown: add it to readmeSnippets", i+1, first)
			continue
		case sn.skip != "":
			t.Logf("snippet %d (%q) not compiled: %s", i+1, first, sn.skip)
			continue
		}
		src := filepath.Join(dir, fmt.Sprintf("snippet%d.go", i+1))
		if err := os.WriteFile(src, []byte(sn.source(block)), 0o644); err != nil {
			t.Fatal(err)
		}
		pkg := fmt.Sprintf("examples/readme_snippet_%d", i+1) // exists only in the overlay
		overlay["Replace"][filepath.Join(root, pkg, "main.go")] = src
		pkgs = append(pkgs, "./"+pkg)
	}
	if len(pkgs) < 5 {
		t.Fatalf("only %d snippets compiled", len(pkgs))
	}
	ov, _ := json.Marshal(overlay)
	ovPath := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
		t.Fatal(err)
	}
	// Several packages: go build compiles them and keeps nothing.
	cmd := exec.Command(gobin, append([]string{"build", "-overlay", ovPath}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README snippets do not compile: %v\n%s", err, out)
	}
	t.Logf("%d README snippets compiled", len(pkgs))
}
