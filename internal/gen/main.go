// Command gen generates package tg's Bot API types and methods from the spec
// botapi/api.json. It is run by `go generate ./tg`; CI regenerates and fails
// on any difference, and so does this package's test.
//
// It owns the files tg/*_gen.go and tg/registry_gen_test.go and writes
// nothing else. Output is deterministic: spec order, gofmt'd.
//
// # Mapping rules
//
// Names: snake_case and camelCase become CamelCase with Go initialisms
// (chat_id → ChatID, MessageId → MessageID, sendMessage → SendMessage).
//
// Scalars: Integer → int64 (ids exceed 32 bits), Float → float64, String →
// string, Boolean and True → bool. "Array of X" → []X.
//
// Objects: a required object field is the struct by value, an optional one a
// pointer; slice elements are values. (A required field that would make a
// recursive value type becomes a pointer; none does in 10.1.)
//
// Optional fields are tagged omitzero (Go 1.24+): unlike omitempty it keeps
// an empty array that was received (`[]` survives a decode → encode round
// trip) and omits a nil pointer, interface or zero ChatID. Required fields
// are always encoded.
//
// Pointers for meaningful zeros: an optional Boolean whose description gives
// a default of True, a default taken from another field, or "pass False"
// (tristateBool) is *bool; optional Integers and Floats listed in
// pointerFields (ReplyParameters.quote_position, Gift.remaining_count, …) are
// *int64 / *float64. Everything else optional is a plain value: its zero is
// the same as absent.
//
// Alternatives: "Integer or String" → ChatID; "InputFile or String" and
// "InputFile" → *InputFile; a String documented with "attach://"
// (InputMedia*.media, InputSticker.sticker, …) → *InputFile; alternative
// object types → the smallest union holding them all (sendMediaGroup's
// "Array of InputMediaAudio, …" → []InputMedia) or a synthetic union
// (reply_markup → ReplyMarkup). Any other combination stops the generator.
//
// Unions: every abstract type (one with subtypes) is a sealed interface,
// implemented by pointers to its members and by Unknown<Union>, which keeps
// the raw JSON of a value this version does not know. Members are chosen by
// the discriminator (the one String field documented as `always "x"` or
// `must be x`); members sharing a value (InlineQueryResultPhoto and
// InlineQueryResultCachedPhoto) and unions without one (InputMessageContent,
// ReplyMarkup) are told apart by the required fields present, most specific
// first. MaybeInaccessibleMessage is split by date (0 → InaccessibleMessage).
// RichText's "String" and "Array of RichText" members are RichTextPlain and
// RichTextArray. Members' MarshalJSON fills in an empty discriminator;
// structs with union fields get an UnmarshalJSON.
//
// Methods: one XxxParams struct per method with parameters, and
// (*Client).Xxx(ctx, p) calling (*Client).Call. Results: Boolean (always
// True) → error only; "Message or True" → *Message, nil for True; objects →
// pointer; arrays → slices; unions → the interface.
//
// Uploads: every params struct and type that can hold an InputFile, directly
// or through fields, slices and union members, gets appendUploads; every
// params struct with a chat_id gets TargetChat.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	specPath := flag.String("spec", "botapi/api.json", "Bot API spec (JSON)")
	out := flag.String("out", "tg", "output directory (package tg)")
	flag.Parse()
	if err := run(*specPath, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run generates into dir, writing only files whose content changed and
// removing generated files that are no longer produced.
func run(specPath, dir string) error {
	files, m, err := generateFrom(specPath)
	if err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*_gen*.go"))
	for _, path := range old {
		if _, ok := files[filepath.Base(path)]; !ok && isGenerated(path) {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
	}
	for name, src := range files {
		path := filepath.Join(dir, name)
		if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, src) {
			continue
		}
		if err := os.WriteFile(path, src, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "gen: %s: %d types (%d structs, %d union interfaces, InputFile hand-written), %d methods\n",
		m.spec.Version, len(m.spec.Types), m.structCount(), m.specUnionCount(), len(m.spec.Methods))
	return nil
}

// generateFrom loads the spec and renders every file.
func generateFrom(specPath string) (map[string][]byte, *model, error) {
	s, err := loadSpec(specPath)
	if err != nil {
		return nil, nil, err
	}
	m, err := newModel(s)
	if err != nil {
		return nil, nil, err
	}
	files, err := m.generate()
	return files, m, err
}

func isGenerated(path string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.HasPrefix(string(data), header)
}

func (m *model) structCount() int {
	n := 0
	for _, t := range m.spec.Types {
		if m.unions[t.Name] == nil && t.Name != "InputFile" {
			n++
		}
	}
	return n
}

func (m *model) specUnionCount() int {
	n := 0
	for _, t := range m.spec.Types {
		if m.unions[t.Name] != nil {
			n++
		}
	}
	return n
}
