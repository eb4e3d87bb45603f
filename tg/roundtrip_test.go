package tg

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

// schema is botapi/api.json as the tests read it, independently of the
// generator: they check the generated code against the spec, not against
// the generator's own idea of it.
type schema struct {
	Types   map[string]*schemaType `json:"types"`
	Methods map[string]*schemaType `json:"methods"`
}

type schemaType struct {
	Name     string         `json:"name"`
	Fields   []*schemaField `json:"fields"`
	Subtypes []string       `json:"subtypes"`
}

type schemaField struct {
	Name        string   `json:"name"`
	Types       []string `json:"types"`
	Required    bool     `json:"required"`
	Description string   `json:"description"`
}

var loadSchema = sync.OnceValues(func() (*schema, error) {
	data, err := os.ReadFile(filepath.Join("..", "botapi", "api.json"))
	if err != nil {
		return nil, err
	}
	var s schema
	return &s, json.Unmarshal(data, &s)
})

func testSchema(t testing.TB) *schema {
	t.Helper()
	s, err := loadSchema()
	if err != nil {
		t.Fatalf("reading the spec: %v", err)
	}
	return s
}

// expand replaces unions in ts by their members, recursively.
func (s *schema) expand(ts []string) []string {
	var out []string
	for _, t := range ts {
		if st := s.Types[t]; st != nil && len(st.Subtypes) > 0 {
			out = append(out, s.expand(st.Subtypes)...)
			continue
		}
		out = append(out, t)
	}
	return out
}

// fieldsOf returns the fields a JSON object of one of the types ts may have.
func (s *schema) fieldsOf(ts []string) map[string][]*schemaField {
	out := map[string][]*schemaField{}
	for _, t := range s.expand(ts) {
		if st := s.Types[t]; st != nil {
			for _, f := range st.Fields {
				out[f.Name] = append(out[f.Name], f)
			}
		}
	}
	return out
}

// elemTypes returns the element types of a JSON array of one of the types ts.
func (s *schema) elemTypes(ts []string) []string {
	var out []string
	for _, t := range s.expand(ts) {
		if e, ok := strings.CutPrefix(t, "Array of "); ok {
			out = append(out, e)
		}
	}
	return out
}

// lossless compares a decoded-then-encoded JSON tree (out) with the original
// (in), both decoded with UseNumber, walking the spec's types ts alongside:
// every key the spec defines must survive with the same value, except an
// optional null or false (absentMeansSame); keys the spec does not define
// may be dropped; out may add only required keys (a sample that predates a
// now-required field gets its zero value). It returns the
// differences as "path: problem" lines.
func (s *schema) lossless(path string, ts []string, in, out any) []string {
	switch in := in.(type) {
	case map[string]any:
		om, ok := out.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: object became %T", path, out)}
		}
		fields := s.fieldsOf(ts)
		var diffs []string
		for _, k := range sortedKeys(in) {
			fs := fields[k]
			if fs == nil {
				continue // not in the spec: may be dropped
			}
			ov, ok := om[k]
			if !ok {
				if !absentMeansSame(fs, in[k]) {
					diffs = append(diffs, fmt.Sprintf("%s.%s: lost", path, k))
				}
				continue
			}
			var kts []string
			for _, f := range fs {
				kts = append(kts, f.Types...)
			}
			diffs = append(diffs, s.lossless(path+"."+k, kts, in[k], ov)...)
		}
		for _, k := range sortedKeys(om) {
			if _, ok := in[k]; !ok && !slices.ContainsFunc(fields[k], func(f *schemaField) bool { return f.Required }) {
				diffs = append(diffs, fmt.Sprintf("%s.%s: added %v", path, k, om[k]))
			}
		}
		return diffs
	case []any:
		oa, ok := out.([]any)
		if !ok || len(oa) != len(in) {
			return []string{fmt.Sprintf("%s: array of %d became %#v", path, len(in), out)}
		}
		var diffs []string
		for i := range in {
			diffs = append(diffs, s.lossless(fmt.Sprintf("%s[%d]", path, i), s.elemTypes(ts), in[i], oa[i])...)
		}
		return diffs
	case json.Number:
		if on, ok := out.(json.Number); !ok || !sameNumber(in, on) {
			return []string{fmt.Sprintf("%s: %v became %v", path, in, out)}
		}
		return nil
	default:
		if !reflect.DeepEqual(in, out) {
			return []string{fmt.Sprintf("%s: %#v became %#v", path, in, out)}
		}
		return nil
	}
}

// absentMeansSame reports whether an optional field may be left out when
// it had value v: null is the same as absent, and so is false for an
// optional Boolean (the spec's "Optional. True, if …" fields; the tristate
// ones are *bool and keep false).
func absentMeansSame(fs []*schemaField, v any) bool {
	for _, f := range fs {
		if f.Required {
			return false
		}
	}
	if v == nil {
		return true
	}
	return v == false && (slices.Equal(fs[0].Types, []string{"Boolean"}) || slices.Equal(fs[0].Types, []string{"True"}))
}

func sameNumber(a, b json.Number) bool {
	if ai, err := strconv.ParseInt(string(a), 10, 64); err == nil {
		bi, err := strconv.ParseInt(string(b), 10, 64)
		return err == nil && ai == bi
	}
	af, err1 := a.Float64()
	bf, err2 := b.Float64()
	return err1 == nil && err2 == nil && af == bf
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tree decodes JSON into maps, slices and json.Numbers.
func tree(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("generic decode: %v\n%s", err, data)
	}
	return v
}

// samples returns the Update samples of testdata/updates (see SOURCES.md).
func samples(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "updates", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no samples in testdata/updates (%v)", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = data
	}
	return out
}

// notInSpec lists the keys a lossless walk skipped as not in the spec, so
// that the test can show (not fail on) what a decoder drops.
func (s *schema) notInSpec(path string, ts []string, in any) []string {
	var out []string
	switch in := in.(type) {
	case map[string]any:
		fields := s.fieldsOf(ts)
		for _, k := range sortedKeys(in) {
			if fs := fields[k]; fs == nil {
				out = append(out, path+"."+k)
			} else {
				var kts []string
				for _, f := range fs {
					kts = append(kts, f.Types...)
				}
				out = append(out, s.notInSpec(path+"."+k, kts, in[k])...)
			}
		}
	case []any:
		for i, v := range in {
			out = append(out, s.notInSpec(fmt.Sprintf("%s[%d]", path, i), s.elemTypes(ts), v)...)
		}
	}
	return out
}

// TestRoundTripSamples decodes every sample into an Update and encodes it
// again: every key of the spec must survive with its value.
func TestRoundTripSamples(t *testing.T) {
	s := testSchema(t)
	for name, data := range samples(t) {
		t.Run(name, func(t *testing.T) {
			var u Update
			if err := json.Unmarshal(data, &u); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, err := json.Marshal(&u)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			in := tree(t, data)
			if diffs := s.lossless("update", []string{"Update"}, in, tree(t, out)); len(diffs) > 0 {
				t.Errorf("round trip lost or changed:\n%s\nencoded: %s", strings.Join(diffs, "\n"), out)
			}
			if unknown := unknownValues("update", reflect.ValueOf(u)); len(unknown) > 0 {
				t.Errorf("union values not recognised: %s", strings.Join(unknown, ", "))
			}
			if dropped := s.notInSpec("update", []string{"Update"}, in); len(dropped) > 0 {
				t.Logf("dropped, not in %s: %s", "the spec", strings.Join(dropped, ", "))
			}
		})
	}
}

// unknownValues lists the paths of Unknown<Union> values in v: a sample of
// Bot API 10.1 must decode every union to a concrete member.
func unknownValues(path string, v reflect.Value) []string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if v.Kind() == reflect.Interface && strings.HasPrefix(v.Elem().Type().String(), "*tg.Unknown") {
			return []string{path}
		}
		return unknownValues(path, v.Elem())
	case reflect.Struct:
		var out []string
		for i := range v.NumField() {
			out = append(out, unknownValues(path+"."+v.Type().Field(i).Name, v.Field(i))...)
		}
		return out
	case reflect.Slice:
		var out []string
		for i := range v.Len() {
			out = append(out, unknownValues(fmt.Sprintf("%s[%d]", path, i), v.Index(i))...)
		}
		return out
	}
	return nil
}

// TestLosslessDetects checks that the comparison itself fails on a lost
// key, a changed value and an added optional key, and tolerates only what
// absentMeansSame allows.
func TestLosslessDetects(t *testing.T) {
	s := testSchema(t)
	const in = `{"update_id":1,"message":{"message_id":2,"date":3,"chat":{"id":4,"type":"private"},"text":"hi","x_new":1,` +
		`"from":{"id":5,"is_bot":false,"first_name":"a","is_premium":false},"reply_markup":null}}`
	const same = `{"update_id":1,"message":{"message_id":2,"date":3,"chat":{"id":4,"type":"private"},"text":"hi",` +
		`"from":{"id":5,"is_bot":false,"first_name":"a","is_premium":false},"reply_markup":null}}`
	withEntity := strings.Replace(in, `"text":"hi",`, `"text":"hi","entities":[{"type":"bold","offset":0,"length":1}],`, 1)
	tests := []struct {
		name, in, out string
		want          int
	}{
		{"unknown key dropped", in, same, 0},
		{"optional false and null dropped", in, strings.NewReplacer(`,"is_premium":false`, "", `,"reply_markup":null`, "").Replace(same), 0},
		{"required false lost", in, strings.Replace(same, `"is_bot":false,`, "", 1), 1},
		{"spec key lost", in, strings.Replace(same, `"text":"hi",`, "", 1), 1},
		{"value changed", in, strings.Replace(same, `"id":4`, `"id":40`, 1), 1},
		{"optional key added", in, strings.Replace(same, `"text":"hi",`, `"text":"hi","caption":"",`, 1), 1},
		{"array shortened", withEntity, strings.Replace(same, `"text":"hi",`, `"text":"hi","entities":[],`, 1), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diffs := s.lossless("update", []string{"Update"}, tree(t, []byte(tc.in)), tree(t, []byte(tc.out)))
			if len(diffs) != tc.want {
				t.Errorf("got %d differences %q, want %d", len(diffs), diffs, tc.want)
			}
		})
	}
}

// discValue finds the fixed value of a field from its description
// (`always "x"`, `must be x`, `Always 0`), as the spec documents
// discriminators.
var (
	discQuoted = regexp.MustCompile(`always "([^"]+)"`)
	discMustBe = regexp.MustCompile(`must be ([a-z_0-9]+)$`)
	discZero   = regexp.MustCompile(`^Always 0\.`)
)

func discValue(f *schemaField) (any, bool) {
	switch {
	case slices.Equal(f.Types, []string{"String"}) && discQuoted.MatchString(f.Description):
		return discQuoted.FindStringSubmatch(f.Description)[1], true
	case slices.Equal(f.Types, []string{"String"}) && discMustBe.MatchString(f.Description):
		return discMustBe.FindStringSubmatch(f.Description)[1], true
	case slices.Equal(f.Types, []string{"Integer"}) && discZero.MatchString(f.Description):
		return 0, true
	}
	return nil, false
}

// sample builds a JSON value of spec type typ with every required field set
// (discriminators to their documented values), depth-limited.
func (s *schema) sample(typ string, depth int) any {
	if e, ok := strings.CutPrefix(typ, "Array of "); ok {
		if depth > 6 {
			return []any{}
		}
		return []any{s.sample(e, depth+1)}
	}
	switch typ {
	case "Integer":
		return 7
	case "Float":
		return 1.5
	case "String", "InputFile":
		return "s"
	case "Boolean", "True":
		return true
	}
	st := s.Types[typ]
	if len(st.Subtypes) > 0 {
		return s.sample(st.Subtypes[0], depth+1)
	}
	obj := map[string]any{}
	for _, f := range st.Fields {
		if v, ok := discValue(f); ok {
			obj[f.Name] = v
		} else if f.Required {
			obj[f.Name] = s.sample(f.Types[0], depth+1)
		}
	}
	return obj
}
