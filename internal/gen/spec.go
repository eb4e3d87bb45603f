package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Spec is botapi/api.json: the Bot API's types and methods in the order the
// documentation lists them.
type Spec struct {
	Version     string `json:"version"`
	ReleaseDate string `json:"release_date"`
	Changelog   string `json:"changelog"`
	Types       []*Type
	Methods     []*Method
}

// Type is one object of the spec. An abstract type has Subtypes and no Fields.
type Type struct {
	Name        string   `json:"name"`
	Href        string   `json:"href"`
	Description []string `json:"description"`
	Fields      []*Field `json:"fields"`
	Subtypes    []string `json:"subtypes"`
	SubtypeOf   []string `json:"subtype_of"`
}

// Method is one method of the spec.
type Method struct {
	Name        string   `json:"name"`
	Href        string   `json:"href"`
	Description []string `json:"description"`
	Returns     []string `json:"returns"`
	Fields      []*Field `json:"fields"`
}

// Field is a field of a type or a parameter of a method. Types lists the
// alternatives ("Integer", "String" for "Integer or String").
type Field struct {
	Name        string   `json:"name"`
	Types       []string `json:"types"`
	Required    bool     `json:"required"`
	Description string   `json:"description"`
}

// loadSpec reads the spec at path, keeping the order of types and methods
// (a Go map would lose it, and with it deterministic output).
func loadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var top struct {
		Version     string          `json:"version"`
		ReleaseDate string          `json:"release_date"`
		Changelog   string          `json:"changelog"`
		Types       json.RawMessage `json:"types"`
		Methods     json.RawMessage `json:"methods"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &Spec{Version: top.Version, ReleaseDate: top.ReleaseDate, Changelog: top.Changelog}
	if s.Types, err = orderedValues[Type](top.Types); err != nil {
		return nil, fmt.Errorf("%s: types: %w", path, err)
	}
	if s.Methods, err = orderedValues[Method](top.Methods); err != nil {
		return nil, fmt.Errorf("%s: methods: %w", path, err)
	}
	return s, nil
}

// orderedValues decodes the values of a JSON object in document order.
func orderedValues[T any](obj json.RawMessage) ([]*T, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object (%v)", err)
	}
	var out []*T
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		v := new(T)
		if err := dec.Decode(v); err != nil {
			return nil, fmt.Errorf("%v: %w", key, err)
		}
		out = append(out, v)
	}
	return out, nil
}
