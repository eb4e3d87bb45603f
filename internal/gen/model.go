package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// pointerFields lists optional Integer and Float fields whose zero value means
// something other than "absent", so they are generated as *int64 / *float64.
// Keyed by "Owner.field" (owner: type or method name). Optional Booleans are
// decided by tristateBool below; extend this table, never special-case code.
// getUpdates offset is not here: an absent offset and offset 0 both mean
// "from the earliest unconfirmed update", and negative offsets are non-zero.
var pointerFields = map[string]string{
	"ReplyParameters.quote_position":                      "position 0 is the start of the message",
	"upgradeGift.star_count":                              `"pass 0" when the upgrade is prepaid`,
	"Gift.remaining_count":                                "0 gifts left is not the same as unlimited",
	"Gift.personal_remaining_count":                       "0 gifts left is not the same as unlimited",
	"DirectMessagePriceChanged.direct_message_star_count": "0 means direct messages became free",
}

// fastDecoders are the types tg decodes most (a text update and its
// parts, a button press): they get a decodeFast method that reads their
// integer, string and boolean fields and each other straight from the
// decoder, without the JSON engine's reflection; every other field is
// decoded by the engine as before. Each one costs the binary its code.
var fastDecoders = map[string]bool{
	"Update": true, "Message": true, "User": true, "Chat": true, "MessageEntity": true, "CallbackQuery": true,
}

// tristateBool matches optional Boolean descriptions where an absent value
// differs from false (a documented default of True, "pass False to …", a
// default taken from another field): such fields are generated as *bool.
var tristateBool = regexp.MustCompile(`(?i)defaults? to (true|the value)|pass false|if omitted|defaults to false for`)

// syntheticUnions names the unions the spec writes as a list of alternatives
// in a field rather than as an abstract type. A multi-type field of object
// types that matches no entry here (or no spec union) stops the generator.
var syntheticUnions = []struct {
	name    string
	members []string
	doc     string
}{
	{"ReplyMarkup", []string{"InlineKeyboardMarkup", "ReplyKeyboardMarkup", "ReplyKeyboardRemove", "ForceReply"},
		"ReplyMarkup is the reply_markup parameter of the send methods: an inline keyboard, a custom reply keyboard, an instruction to remove the reply keyboard or to force a reply from the user. It is implemented by *InlineKeyboardMarkup, *ReplyKeyboardMarkup, *ReplyKeyboardRemove and *ForceReply."},
}

// zeroSplitUnions are unions without a discriminator whose members differ by
// an integer field being zero (MaybeInaccessibleMessage: date is always 0 for
// an InaccessibleMessage and positive for a Message).
var zeroSplitUnions = map[string]zeroSplit{
	"MaybeInaccessibleMessage": {field: "date", zero: "InaccessibleMessage", nonzero: "Message"},
}

type zeroSplit struct{ field, zero, nonzero string }

// union is a Go interface: a spec abstract type or a synthetic union.
type union struct {
	name      string   // spec name (or synthetic name)
	goName    string   // interface name
	members   []string // concrete member types (spec names), spec order
	plain     bool     // a JSON string is a member (RichText's "String")
	array     bool     // a JSON array of the union is a member ("Array of RichText")
	disc      string   // discriminator JSON key, "" if none
	values    map[string]string
	zeroSplit *zeroSplit
	href      string
	doc       []string
}

// model is the spec resolved into Go.
type model struct {
	spec      *Spec
	types     map[string]*Type
	unions    map[string]*union
	unionList []*union
	memberOf  map[string][]*union // concrete type → unions it implements
	carriers  map[string]bool     // types and unions that can carry an upload
	discOf    map[string]discInfo // concrete type → its discriminator
}

type discInfo struct{ key, value string }

var (
	discAlways = regexp.MustCompile(`always "([^"]+)"`)
	discMustBe = regexp.MustCompile(`must be ([a-z_0-9]+)$`)
)

func newModel(s *Spec) (*model, error) {
	m := &model{
		spec: s, types: map[string]*Type{}, unions: map[string]*union{},
		memberOf: map[string][]*union{}, carriers: map[string]bool{}, discOf: map[string]discInfo{},
	}
	for _, t := range s.Types {
		m.types[t.Name] = t
	}
	for _, t := range s.Types {
		if len(t.Subtypes) == 0 {
			continue
		}
		u := &union{name: t.Name, goName: exportName(t.Name), href: t.Href, doc: t.Description}
		for _, st := range t.Subtypes {
			switch {
			case st == "String":
				u.plain = true
			case st == "Array of "+t.Name:
				u.array = true
			case m.types[st] != nil && len(m.types[st].Subtypes) == 0:
				u.members = append(u.members, st)
			default:
				return nil, fmt.Errorf("%s: subtype %q is not a concrete type", t.Name, st)
			}
		}
		if zs, ok := zeroSplitUnions[t.Name]; ok {
			u.zeroSplit = &zs
		} else if err := m.findDiscriminator(u); err != nil {
			return nil, err
		}
		m.addUnion(u)
	}
	for _, su := range syntheticUnions {
		m.addUnion(&union{name: su.name, goName: su.name, members: su.members, doc: []string{su.doc}})
	}
	if err := m.checkFields(); err != nil {
		return nil, err
	}
	m.findCarriers()
	return m, nil
}

func (m *model) addUnion(u *union) {
	m.unions[u.name] = u
	m.unionList = append(m.unionList, u)
	for _, mem := range u.members {
		m.memberOf[mem] = append(m.memberOf[mem], u)
	}
}

// findDiscriminator sets u.disc when every member has a field documented as
// `always "value"` or `must be value` under the same key.
func (m *model) findDiscriminator(u *union) error {
	values := map[string]string{}
	key := ""
	for _, mem := range u.members {
		k, v := discriminator(m.types[mem])
		if k == "" || (key != "" && k != key) {
			return nil // no common discriminator: decided by the fields present
		}
		key = k
		values[mem] = v
	}
	u.disc, u.values = key, values
	for _, mem := range u.members {
		d := discInfo{key, values[mem]}
		if old, ok := m.discOf[mem]; ok && old != d {
			return fmt.Errorf("%s: discriminator %v in %s, %v elsewhere", mem, d, u.name, old)
		}
		m.discOf[mem] = d
	}
	return nil
}

// discriminator returns the first String field of t whose description fixes
// its value, and that value.
func discriminator(t *Type) (key, value string) {
	for _, f := range t.Fields {
		if !slices.Equal(f.Types, []string{"String"}) {
			continue
		}
		if mm := discAlways.FindStringSubmatch(f.Description); mm != nil {
			return f.Name, mm[1]
		}
		if mm := discMustBe.FindStringSubmatch(f.Description); mm != nil {
			return f.Name, mm[1]
		}
	}
	return "", ""
}

// goType is the Go shape of a field, a slice element or a result.
type goType struct {
	expr  string // Go type expression
	depth int    // slice levels
	base  string // innermost spec name: a type, a union, "InputFile", or a scalar
	kind  kind   // what the innermost element is
}

type kind int

const (
	kScalar kind = iota
	kFile
	kObject
	kUnion
	kChatID
)

// elem resolves one spec type name, with any "Array of " prefixes.
func (m *model) elem(name string) (goType, error) {
	var g goType
	for strings.HasPrefix(name, "Array of ") {
		name = strings.TrimPrefix(name, "Array of ")
		g.depth++
	}
	g.base = name
	switch name {
	case "Integer":
		g.expr = "int64"
	case "Float":
		g.expr = "float64"
	case "String":
		g.expr = "string"
	case "Boolean", "True":
		g.expr = "bool"
	case "InputFile":
		g.expr, g.kind = "*InputFile", kFile
	default:
		if u := m.unions[name]; u != nil {
			g.expr, g.kind = u.goName, kUnion
		} else if m.types[name] != nil {
			g.expr, g.kind = exportName(name), kObject
		} else {
			return g, fmt.Errorf("unknown type %q", name)
		}
	}
	g.expr = strings.Repeat("[]", g.depth) + g.expr
	return g, nil
}

// field resolves a field of owner (a type or method name) to its Go type.
func (m *model) field(owner string, f *Field) (goType, error) {
	if len(f.Types) > 1 {
		return m.multi(f.Types)
	}
	g, err := m.elem(f.Types[0])
	if err != nil || g.depth > 0 {
		return g, err
	}
	switch {
	case g.base == "String" && strings.Contains(f.Description, "attach://"):
		// InputMedia*.media and friends: a file_id, a URL or an upload.
		g.expr, g.kind, g.base = "*InputFile", kFile, "InputFile"
	case g.kind == kObject && (!f.Required || m.valueCycle(g.base, owner)):
		g.expr = "*" + g.expr
	case g.kind == kScalar && !f.Required && m.needsPointer(owner, f):
		g.expr = "*" + g.expr
	}
	return g, nil
}

func (m *model) needsPointer(owner string, f *Field) bool {
	if _, ok := pointerFields[owner+"."+f.Name]; ok {
		return true
	}
	return f.Types[0] == "Boolean" && tristateBool.MatchString(f.Description)
}

// multi resolves a field with several alternative types.
func (m *model) multi(types []string) (goType, error) {
	set := slices.Clone(types)
	slices.Sort(set)
	switch strings.Join(set, "|") {
	case "Integer|String":
		return goType{expr: "ChatID", base: "ChatID", kind: kChatID}, nil
	case "InputFile|String":
		return goType{expr: "*InputFile", base: "InputFile", kind: kFile}, nil
	}
	depth := -1
	var bases []string
	for _, t := range types {
		g, err := m.elem(t)
		if err != nil {
			return g, err
		}
		if g.kind != kObject || (depth >= 0 && g.depth != depth) {
			return g, fmt.Errorf("alternatives %q: not all objects of one depth", types)
		}
		depth = g.depth
		bases = append(bases, g.base)
	}
	u := m.smallestUnion(bases)
	if u == nil {
		return goType{}, fmt.Errorf("alternatives %q: no union holds them all; add a syntheticUnions entry", types)
	}
	return goType{expr: strings.Repeat("[]", depth) + u.goName, depth: depth, base: u.name, kind: kUnion}, nil
}

// smallestUnion returns the union with the fewest members holding all of
// members, or nil when none (or two of the same size) do.
func (m *model) smallestUnion(members []string) *union {
	var best *union
	tie := false
	for _, u := range m.unionList {
		if !containsAll(u.members, members) {
			continue
		}
		switch {
		case best == nil || len(u.members) < len(best.members):
			best, tie = u, false
		case len(u.members) == len(best.members):
			tie = true
		}
	}
	if tie {
		return nil
	}
	return best
}

func containsAll(set, xs []string) bool {
	for _, x := range xs {
		if !slices.Contains(set, x) {
			return false
		}
	}
	return true
}

// valueCycle reports whether embedding typ by value in owner would make a
// recursive type (owner reachable from typ through required value fields).
func (m *model) valueCycle(typ, owner string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(t string) bool {
		if t == owner {
			return true
		}
		if seen[t] || m.types[t] == nil {
			return false
		}
		seen[t] = true
		for _, f := range m.types[t].Fields {
			if f.Required && len(f.Types) == 1 && !strings.HasPrefix(f.Types[0], "Array of ") && m.unions[f.Types[0]] == nil && walk(f.Types[0]) {
				return true
			}
		}
		return false
	}
	return walk(typ)
}

// checkFields resolves every field once so that a spec change the generator
// cannot express stops it with the field's name.
func (m *model) checkFields() error {
	check := func(owner string, fs []*Field) error {
		for _, f := range fs {
			if _, err := m.field(owner, f); err != nil {
				return fmt.Errorf("%s.%s: %w", owner, f.Name, err)
			}
		}
		return nil
	}
	for _, t := range m.spec.Types {
		if err := check(t.Name, t.Fields); err != nil {
			return err
		}
	}
	for _, meth := range m.spec.Methods {
		if err := check(meth.Name, meth.Fields); err != nil {
			return err
		}
	}
	return nil
}

// findCarriers marks every type and union that holds an InputFile directly
// or through fields, slices and union members, to a fixed point.
func (m *model) findCarriers() {
	for changed := true; changed; {
		changed = false
		for _, t := range m.spec.Types {
			if !m.carriers[t.Name] && m.fieldsCarry(t.Name, t.Fields) {
				m.carriers[t.Name], changed = true, true
			}
		}
		for _, u := range m.unionList {
			if m.carriers[u.name] {
				continue
			}
			for _, mem := range u.members {
				if m.carriers[mem] {
					m.carriers[u.name], changed = true, true
					break
				}
			}
		}
	}
}

func (m *model) fieldsCarry(owner string, fs []*Field) bool {
	for _, f := range fs {
		g, _ := m.field(owner, f)
		if g.kind == kFile || ((g.kind == kObject || g.kind == kUnion) && m.carriers[g.base]) {
			return true
		}
	}
	return false
}

// hasUnion reports whether any field of fs holds a union (needs UnmarshalJSON).
func (m *model) hasUnion(owner string, fs []*Field) bool {
	for _, f := range fs {
		if g, _ := m.field(owner, f); g.kind == kUnion {
			return true
		}
	}
	return false
}
