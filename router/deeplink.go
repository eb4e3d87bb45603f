package router

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/tidygram/tidygram/tg"
)

// Deep links: https://t.me/<bot>?start=<payload> opens the bot's chat with
// a Start button that sends "/start <payload>"; ?startgroup=<payload> asks
// to add the bot to a group, where it gets "/start@<bot> <payload>".

// MaxPayload is the longest deep-link payload Telegram accepts: 64
// characters of A-Z, a-z, 0-9, _ and -.
const MaxPayload = 64

// ErrPayload is matched (errors.Is) by the error of a payload Telegram
// would not accept (empty, longer than MaxPayload, or with a character
// outside A-Z, a-z, 0-9, _ and -).
var ErrPayload = errors.New("router: invalid deep-link payload")

// CheckPayload returns an error matching ErrPayload unless payload is a
// valid deep-link payload.
func CheckPayload(payload string) error {
	if payload == "" || len(payload) > MaxPayload {
		return fmt.Errorf("%w: %d characters (1 to %d)", ErrPayload, len(payload), MaxPayload)
	}
	for i := 0; i < len(payload); i++ {
		if !payloadChar(payload[i]) {
			return fmt.Errorf("%w: %q at %d (A-Z, a-z, 0-9, _ and - only)", ErrPayload, payload[i], i)
		}
	}
	return nil
}

func payloadChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// DeepLink returns the link that starts a private chat with the bot
// botUsername (with or without "@") and sends it "/start <payload>",
// or an error matching ErrPayload for a payload Telegram would refuse.
// StartPayload and Context.StartPayload read it on the bot's side.
//
// Payloads are not secret (users can see and change them): use them to
// name a referral or an item, not to authorise. EncodePayload packs bytes
// into a payload.
func DeepLink(botUsername, payload string) (string, error) {
	return deepLink(botUsername, "start", payload)
}

// DeepLinkGroup returns the link that asks the user to add the bot
// botUsername to a group, where it gets "/start@bot <payload>".
func DeepLinkGroup(botUsername, payload string) (string, error) {
	return deepLink(botUsername, "startgroup", payload)
}

func deepLink(bot, param, payload string) (string, error) {
	bot = strings.TrimPrefix(bot, "@")
	if bot == "" {
		return "", errors.New("router: deep link needs the bot's username")
	}
	for i := 0; i < len(bot); i++ {
		if c := bot[i]; !payloadChar(c) || c == '-' {
			return "", fmt.Errorf("router: deep link: %q is not a bot username", bot)
		}
	}
	if err := CheckPayload(payload); err != nil {
		return "", err
	}
	return "https://t.me/" + bot + "?" + param + "=" + payload, nil
}

// EncodePayload packs data into a deep-link payload (base64url without
// padding): at most 48 bytes fit in MaxPayload characters; longer data
// is an error matching ErrPayload.
func EncodePayload(data []byte) (string, error) {
	s := base64.RawURLEncoding.EncodeToString(data)
	if err := CheckPayload(s); err != nil {
		return "", fmt.Errorf("router: encode %d bytes: %w", len(data), err)
	}
	return s, nil
}

// DecodePayload unpacks a payload made by EncodePayload.
func DecodePayload(payload string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	return b, nil
}

// startPayload returns the payload of a "/start <payload>" new message and
// whether the message is a /start command at all.
func startPayload(u *tg.Update) (string, bool) {
	m := u.NewMessage()
	if m == nil || len(m.Text) < 6 || m.Text[0] != '/' {
		return "", false
	}
	cmd, _, args, ok := ParseCommand(m.Text)
	if !ok || !strings.EqualFold(cmd, "start") {
		return "", false
	}
	return args, true
}

// StartPayload matches "/start <payload>" (a deep link was followed)
// with a payload for which match returns true, or with any non-empty
// payload when match is nil. Register it before OnCommand("start"), which
// takes every /start:
//
//	r.On(router.StartPayload(func(p string) bool { return strings.HasPrefix(p, "ref_") }), referral)
//	r.OnCommand("start", hello)
func StartPayload(match func(payload string) bool) Filter {
	return func(u *tg.Update) bool {
		p, ok := startPayload(u)
		return ok && p != "" && (match == nil || match(p))
	}
}

// StartPayload returns the payload of a "/start <payload>" message (""
// for any other update).
func (c *Context) StartPayload() string {
	p, _ := startPayload(c.Update)
	return p
}
