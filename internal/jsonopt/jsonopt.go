// Package jsonopt holds the options tidygram decodes Bot API JSON with,
// so that an update decodes the same whether it came by long poll, by
// webhook or inside a method's result. It owns no state and decodes
// nothing itself.
package jsonopt

import (
	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Decode is the JSON engine's own semantics (object names matched exactly,
// as the Bot API writes them; a null leaves the zero value) with
// encoding/json's tolerance of input: duplicate names are accepted (the
// last wins) and invalid UTF-8 in a string is replaced by U+FFFD.
// encoding/json's case-insensitive name matching is left out: it cost a
// text message update about 40% of its decoding time, and Telegram never
// sends a name in another case.
var Decode = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
