package tg

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
	json "github.com/go-json-experiment/json/v1"
)

// ChatID is the Bot API's "Integer or String" chat identifier: a numeric id
// (64 bits: ids exceed 32 bits) or a public "@username". The zero value is no
// chat.
type ChatID struct {
	ID       int64  // numeric chat id; used when Username is empty
	Username string // "@channelusername"
}

// ID returns the ChatID of a numeric chat id.
func ID(id int64) ChatID { return ChatID{ID: id} }

// Username returns the ChatID of a public username; a missing "@" is added.
func Username(name string) ChatID {
	if name != "" && name[0] != '@' {
		name = "@" + name
	}
	return ChatID{Username: name}
}

// IsZero reports whether c names no chat.
func (c ChatID) IsZero() bool { return c.ID == 0 && c.Username == "" }

// String returns the id in decimal or the username.
func (c ChatID) String() string {
	if c.Username != "" {
		return c.Username
	}
	return strconv.FormatInt(c.ID, 10)
}

// MarshalJSON encodes a number or a string.
func (c ChatID) MarshalJSON() ([]byte, error) {
	if c.Username != "" {
		return json.Marshal(c.Username)
	}
	return strconv.AppendInt(nil, c.ID, 10), nil
}

// MarshalJSONTo is MarshalJSON writing to enc: the JSON engine encodes
// params with it, without an allocation or a second pass over the bytes.
func (c ChatID) MarshalJSONTo(enc *jsontext.Encoder) error {
	if c.Username != "" {
		return enc.WriteToken(jsontext.String(c.Username))
	}
	return enc.WriteToken(jsontext.Int(c.ID))
}

// UnmarshalJSON accepts a number, or a string holding a number or a username.
func (c *ChatID) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := unmarshal(data, &s); err != nil {
			return err
		}
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			*c = ChatID{ID: id}
			return nil
		}
		*c = ChatID{Username: s}
		return nil
	}
	id, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return fmt.Errorf("tg: chat id %.40q: not an integer or string", data)
	}
	*c = ChatID{ID: id}
	return nil
}
