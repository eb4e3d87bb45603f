package tg

import (
	"bytes"
	"errors"
	"time"
)

// envelope holds the fields of a Bot API answer other than its result,
// which decodeAnswer decodes straight into the caller's value.
type envelope struct {
	OK          okFlag
	ErrorCode   int
	Description string
	Parameters  *responseParams
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

// errNotEnvelope is the cause of a *ResponseError for a JSON body without a
// boolean "ok".
var errNotEnvelope = errors.New(`not a Bot API answer (no boolean "ok")`)

// decodeEnvelope decodes a whole answer held in body (see decodeAnswer),
// with the default response cap and no count bound.
func decodeEnvelope(method string, status int, body []byte, result any, red redactor) error {
	lim := limitsOf(DefaultMaxResponseBytes, 0, red)
	err := decodeAnswer(method, status, bytes.NewReader(body), result, lim, red)
	var af *answerFault
	if errors.As(err, &af) { // a bytes.Reader does not fail
		panic(af.err)
	}
	return err
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
