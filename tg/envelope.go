package tg

import (
	"errors"
	"fmt"
	"time"

	json "github.com/go-json-experiment/json/v1"
)

// envelope is the Bot API's answer. Result holds the caller's result pointer
// so that the answer is decoded in one pass.
type envelope struct {
	OK          okFlag          `json:"ok"`
	Result      any             `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *responseParams `json:"parameters"`
}

type responseParams struct {
	RetryAfter      int64 `json:"retry_after"`
	MigrateToChatID int64 `json:"migrate_to_chat_id"`
}

// okFlag records whether "ok" was present and its value.
type okFlag uint8

const (
	okAbsent okFlag = iota
	okFalse
	okTrue
)

var errOKNotBool = errors.New(`"ok" is not a boolean`)

func (f *okFlag) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*f = okTrue
	case "false":
		*f = okFalse
	default:
		return errOKNotBool
	}
	return nil
}

// discard is decoded into when the caller wants no result: it skips the
// value without building it.
type discard struct{}

func (*discard) UnmarshalJSON([]byte) error { return nil }

// errNotEnvelope is the cause of a *ResponseError for a JSON body without a
// boolean "ok".
var errNotEnvelope = errors.New(`not a Bot API answer (no boolean "ok")`)

// decodeEnvelope decodes a method's answer: nil when ok=true (result filled
// in), an *APIError when ok=false, a *ResponseError when body is not an
// envelope or ok=true comes with a non-2xx status. It never returns nil
// unless body holds "ok":true.
func decodeEnvelope(method string, status int, body []byte, result any, red redactor) error {
	env := envelope{Result: result}
	if result == nil {
		env.Result = new(discard)
	}
	err := json.Unmarshal(body, &env)
	if env.OK == okFalse {
		var syn *json.SyntaxError
		if !errors.As(err, &syn) { // a result of an unexpected type does not hide the API error
			return newAPIError(method, status, &env, red)
		}
	}
	if err == nil && env.OK == okAbsent {
		err = errNotEnvelope
	}
	if err == nil && (status < 200 || status > 299) {
		err = fmt.Errorf(`"ok":true with HTTP status %d`, status)
	}
	if err != nil {
		return &ResponseError{Method: method, StatusCode: status, Err: err, Body: red.snippet(body)}
	}
	return nil
}

func newAPIError(method string, status int, env *envelope, red redactor) *APIError {
	e := &APIError{Method: method, ErrorCode: env.ErrorCode, Description: red.string(env.Description)}
	if e.ErrorCode == 0 {
		e.ErrorCode = status
	}
	if p := env.Parameters; p != nil {
		if p.RetryAfter > 0 && p.RetryAfter < int64(365*24*time.Hour/time.Second) {
			e.RetryAfter = time.Duration(p.RetryAfter) * time.Second
		}
		e.MigrateToChatID = p.MigrateToChatID
	}
	return e
}
