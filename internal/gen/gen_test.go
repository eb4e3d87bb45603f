package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGeneratedUpToDate regenerates from the spec in memory and compares
// with the committed files in tg: they must be byte for byte the same, and
// tg must hold no stale generated file. Regenerating twice gives the same
// bytes (deterministic output).
func TestGeneratedUpToDate(t *testing.T) {
	spec := filepath.Join("..", "..", "botapi", "api.json")
	files, m, err := generateFrom(spec)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := generateFrom(spec)
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if !bytes.Equal(src, again[name]) {
			t.Errorf("%s: two runs differ", name)
		}
		cur, err := os.ReadFile(filepath.Join("..", "..", "tg", name))
		if err != nil || !bytes.Equal(cur, src) {
			t.Errorf("tg/%s is not what the generator produces (%v): run go generate ./tg", name, err)
		}
	}
	old, _ := filepath.Glob(filepath.Join("..", "..", "tg", "*_gen*.go"))
	for _, path := range old {
		if _, ok := files[filepath.Base(path)]; !ok && isGenerated(path) {
			t.Errorf("%s is a stale generated file", path)
		}
	}
	if len(m.spec.Types) != 359 || len(m.spec.Methods) != 180 {
		t.Errorf("spec has %d types and %d methods, want 359 and 180 (Bot API 10.1)", len(m.spec.Types), len(m.spec.Methods))
	}
}

// TestCounts checks that every spec type and method has its Go declaration.
func TestCounts(t *testing.T) {
	files, m, err := generateFrom(filepath.Join("..", "..", "botapi", "api.json"))
	if err != nil {
		t.Fatal(err)
	}
	all := bytes.Join([][]byte{files["types_gen.go"], files["methods_gen.go"], files["params_gen.go"]}, nil)
	for _, typ := range m.spec.Types {
		decl := "\ntype " + exportName(typ.Name) + " "
		if typ.Name != "InputFile" && !bytes.Contains(all, []byte(decl)) {
			t.Errorf("type %s: no declaration %q", typ.Name, decl)
		}
	}
	for _, meth := range m.spec.Methods {
		decl := "\nfunc (c *Client) " + methodName(meth.Name) + "(ctx context.Context"
		if !bytes.Contains(all, []byte(decl)) {
			t.Errorf("method %s: no declaration %q", meth.Name, decl)
		}
	}
}

func TestExportName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"chat_id", "ChatID"}, {"file_unique_id", "FileUniqueID"}, {"message_ids", "MessageIDs"},
		{"url", "URL"}, {"thumbnail_url", "ThumbnailURL"}, {"ip_address", "IPAddress"},
		{"sendMessage", "SendMessage"}, {"MessageId", "MessageID"}, {"RichTextUrl", "RichTextURL"},
		{"TransactionPartnerTelegramApi", "TransactionPartnerTelegramAPI"}, {"InlineQueryResultMpeg4Gif", "InlineQueryResultMpeg4Gif"},
		{"line2", "Line2"}, {"x_shift", "XShift"}, {"getMe", "GetMe"},
	}
	for _, tc := range tests {
		if got := exportName(tc.in); got != tc.want {
			t.Errorf("exportName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if methodName("close") == "Close" {
		t.Error(`methodName("close") collides with Client.Close`)
	}
}

// TestComment checks the wrapping of doc comments and that list items stay
// together.
func TestComment(t *testing.T) {
	got := comment("\t", "one two three four", "- A", "- B", "end")
	want := "\t// one two three four\n\t//\n\t// - A\n\t// - B\n\t//\n\t// end\n"
	if got != want {
		t.Errorf("comment = %q, want %q", got, want)
	}
	for _, line := range wrap(string(bytes.Repeat([]byte("word "), 100)), 40) {
		if len(line) > 40 {
			t.Errorf("line of %d > 40: %q", len(line), line)
		}
	}
}

// TestModelRejects: spec shapes the generator cannot express stop it.
func TestModelRejects(t *testing.T) {
	base := func() *Spec {
		return &Spec{Types: []*Type{
			{Name: "A", Fields: []*Field{{Name: "x", Types: []string{"Integer"}, Required: true}}},
			{Name: "B", Fields: []*Field{{Name: "y", Types: []string{"String"}, Required: true}}},
		}}
	}
	tests := []struct {
		name   string
		mutate func(s *Spec)
	}{
		{"unknown type", func(s *Spec) { s.Types[0].Fields[0].Types = []string{"Nope"} }},
		{"objects without a union", func(s *Spec) { s.Types[0].Fields[0].Types = []string{"A", "B"} }},
		{"subtype not a type", func(s *Spec) { s.Types = append(s.Types, &Type{Name: "U", Subtypes: []string{"Nope"}}) }},
	}
	if _, err := newModel(base()); err != nil {
		t.Fatalf("base spec: %v", err)
	}
	for _, tc := range tests {
		s := base()
		tc.mutate(s)
		if _, err := newModel(s); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
