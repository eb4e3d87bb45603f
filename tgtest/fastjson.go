package tgtest

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// The hot methods (sendMessage, getUpdates) decode their parameters with a
// single pass over the top-level object instead of encoding/json's
// validate-then-reflect: each field's raw value is handed to the params
// struct's setField, which parses scalars directly and hands nested values
// to encoding/json.

// fieldSetter is implemented by params structs that decode field by field.
type fieldSetter interface {
	setField(key string, raw []byte) error
}

var errBadJSON = errors.New("invalid JSON")

// eachField calls fn for every member of the JSON object b with the
// member's key and raw value (whitespace trimmed). It checks the object's
// structure; fn (or skipValue's validation) checks each value.
func eachField(b []byte, fn func(key string, raw []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errBadJSON
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		if skipSpace(b, i+1) != len(b) {
			return errBadJSON
		}
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errBadJSON
		}
		end, err := stringEnd(b, i)
		if err != nil {
			return err
		}
		key, err := unquote(b[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errBadJSON
		}
		i = skipSpace(b, i+1)
		vend, err := valueEnd(b, i)
		if err != nil {
			return err
		}
		if err := fn(key, b[i:vend]); err != nil {
			return err
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return errBadJSON
		}
		if b[i] == '}' {
			if skipSpace(b, i+1) != len(b) {
				return errBadJSON
			}
			return nil
		}
		if b[i] != ',' {
			return errBadJSON
		}
		i = skipSpace(b, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string that
// starts at b[i].
func stringEnd(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errBadJSON
}

// valueEnd returns the index after the JSON value that starts at b[i]. It
// tracks nesting and strings only; values are validated when decoded.
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := stringEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errBadJSON
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, errBadJSON
	}
	return j, nil
}

// unquote decodes a raw JSON string; the common case (no escapes, valid
// UTF-8, no control characters) is a plain copy.
func unquote(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errBadJSON
	}
	in := raw[1 : len(raw)-1]
	plain := utf8.Valid(in)
	for _, c := range in {
		if c == '\\' || c == '"' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain {
		return string(in), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errBadJSON
	}
	return s, nil
}

// checkRaw validates a value that is ignored, so that a body Telegram
// would reject is rejected here too.
func checkRaw(raw []byte) error {
	if !json.Valid(raw) {
		return errBadJSON
	}
	return nil
}

func setStr(dst *strParam, raw []byte) error {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := unquote(raw)
		*dst = strParam(s)
		return err
	}
	if err := checkRaw(raw); err != nil {
		return err
	}
	return dst.UnmarshalJSON(raw)
}

func setInt(dst *intParam, raw []byte) error {
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		*dst = intParam(n)
		return nil
	}
	return dst.UnmarshalJSON(raw)
}

func setJSON(dst any, raw []byte) error { return json.Unmarshal(raw, dst) }

// setBaseField is not named setField: structs embedding sendBase must not
// become fieldSetters by promotion.
func (b *sendBase) setBaseField(key string, raw []byte) error {
	switch key {
	case "chat_id":
		return b.ChatID.UnmarshalJSON(raw)
	case "parse_mode":
		return setStr(&b.ParseMode, raw)
	case "reply_markup":
		return b.ReplyMarkup.UnmarshalJSON(raw)
	case "reply_parameters":
		return setJSON(&b.ReplyParameters, raw)
	case "business_connection_id":
		return setStr(&b.BusinessConnectionID, raw)
	case "reply_to_message_id":
		return setInt(&b.ReplyToMessageID, raw)
	}
	return checkRaw(raw)
}

func (p *sendMessageParams) setField(key string, raw []byte) error {
	switch key {
	case "text":
		return setStr(&p.Text, raw)
	case "entities":
		return setJSON(&p.Entities, raw)
	}
	return p.sendBase.setBaseField(key, raw)
}

func (p *getUpdatesParams) setField(key string, raw []byte) error {
	switch key {
	case "offset":
		return setInt(&p.Offset, raw)
	case "limit":
		if string(raw) == "null" {
			return nil
		}
		p.Limit = new(intParam)
		return setInt(p.Limit, raw)
	case "timeout":
		return setInt(&p.Timeout, raw)
	case "allowed_updates":
		if string(raw) == "null" {
			return nil
		}
		p.AllowedUpdates = new(listParam)
		return p.AllowedUpdates.UnmarshalJSON(raw)
	}
	return checkRaw(raw)
}
