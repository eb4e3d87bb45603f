// Package readme compiles the Go snippets of a markdown file, for tests:
// each ```go block is compiled as a whole file, or wrapped into main after
// the declarations it takes for granted, through a build overlay (nothing
// is written to the tree). It owns no state and is linked only by tests.
package readme

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Snippet says how to compile a snippet, known by its first line.
type Snippet struct {
	First   string   // how the snippet's first line begins
	Imports []string // of the wrapped file: "path", or "name path"
	Pre     string   // statements before the snippet, in main
	Post    string   // statements after it (uses of what it declares)
	File    bool     // the snippet is a whole file, or top-level declarations
	Elided  string   // what "{ … }" (the reader's code) stands for; default "{ return }"
	Skip    string   // why it is not compiled here (another test compiles it, …)
}

// GoBlocks returns the ```go blocks of markdown, in order.
func GoBlocks(markdown string) []string {
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

// Source returns the file that compiles snippet as sn says.
func (sn Snippet) Source(snippet string) string {
	// `…` stands for the reader's code: nothing, or leaving main.
	snippet = strings.ReplaceAll(snippet, "{ … }", cmp.Or(sn.Elided, "{ return }"))
	if sn.File && len(sn.Imports) == 0 {
		return snippet
	}
	var b strings.Builder
	b.WriteString("package main\n\nimport (\n")
	for _, imp := range sn.Imports {
		if name, path, ok := strings.Cut(imp, " "); ok {
			fmt.Fprintf(&b, "\t%s %q\n", name, path)
		} else {
			fmt.Fprintf(&b, "\t%q\n", imp)
		}
	}
	b.WriteString(")\n\n")
	if sn.File {
		b.WriteString(snippet + "\nfunc main() {}\n")
		return b.String()
	}
	fmt.Fprintf(&b, "func main() {\n%s\n%s\n%s\n}\n", sn.Pre, snippet, sn.Post)
	return b.String()
}

// Compile builds every snippet of the markdown file at path that snippets
// does not skip, as packages of the module in moduleDir (they exist only
// in the overlay), and fails t when one does not compile, when a snippet
// matches no entry of snippets, or when fewer than min compiled. It
// returns how many compiled. It skips t when there is no go command.
func Compile(t testing.TB, path, moduleDir string, snippets []Snippet, min int) int {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	overlay := map[string]map[string]string{"Replace": {}}
	var pkgs []string
	blocks := GoBlocks(string(md))
	if len(blocks) == 0 {
		t.Fatalf("no ```go block in %s", path)
	}
	for i, block := range blocks {
		first, _, _ := strings.Cut(block, "\n")
		var sn *Snippet
		for j := range snippets {
			if strings.HasPrefix(first, snippets[j].First) {
				sn = &snippets[j]
				break
			}
		}
		switch {
		case sn == nil:
			t.Errorf("snippet %d of %s (%q) is unknown: add it to the test's snippets", i+1, path, first)
			continue
		case sn.Skip != "":
			t.Logf("snippet %d (%q) not compiled here: %s", i+1, first, sn.Skip)
			continue
		}
		src := filepath.Join(dir, fmt.Sprintf("snippet%d.go", i+1))
		if err := os.WriteFile(src, []byte(sn.Source(block)), 0o644); err != nil {
			t.Fatal(err)
		}
		pkg := fmt.Sprintf("readme_snippet_%d", i+1) // exists only in the overlay
		overlay["Replace"][filepath.Join(root, pkg, "main.go")] = src
		pkgs = append(pkgs, "./"+pkg)
	}
	if len(pkgs) < min {
		t.Fatalf("only %d snippets compiled, want at least %d", len(pkgs), min)
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
		t.Fatalf("snippets of %s do not compile: %v\n%s", path, err, out)
	}
	t.Logf("%d snippets of %s compiled", len(pkgs), path)
	return len(pkgs)
}
