// Package webapp validates what a Telegram Mini App (Web App) or the
// Telegram Login Widget hands a web server, as Telegram specifies it
// (core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app,
// core.telegram.org/widgets/login#checking-authorization):
//
//   - Validate checks a Mini App's initData with the bot token: hash is the
//     HMAC-SHA-256 of the data-check-string (every field but hash, sorted
//     by key, "key=value" joined by "\n") under the key
//     HMAC-SHA-256("WebAppData", token).
//   - ValidateThirdParty checks initData without the token, by the Ed25519
//     signature Telegram adds (for a service that knows only the bot's id).
//   - ValidateLogin checks Login Widget data: the same data-check-string
//     under the key SHA-256(token).
//
// Each compares in constant time, refuses data older than the maximum age
// (WithMaxAge, default DefaultMaxAge) or dated in the future beyond a
// clock skew (DefaultClockSkew), refuses repeated fields and input over
// MaxLength, and returns errors that errors.Is matches against the
// sentinels below. It does no I/O and starts no goroutine; everything it
// keeps is in the values it returns.
package webapp

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits and defaults.
const (
	// DefaultMaxAge is how old auth_date may be (24 h) unless WithMaxAge
	// says otherwise. Telegram leaves the choice to the server; a Mini App
	// session usually lasts far less — lower it where a replayed initData
	// matters.
	DefaultMaxAge = 24 * time.Hour
	// DefaultClockSkew is how far in the future auth_date may lie (5 min),
	// for clocks that disagree.
	DefaultClockSkew = 5 * time.Minute
	// MaxLength caps the input (16 KiB); Telegram's initData is a few
	// hundred bytes to about 2 KiB.
	MaxLength = 16 << 10
)

// Telegram's Ed25519 public keys for ValidateThirdParty, hex-encoded.
const (
	ProductionPublicKey = "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d"
	TestPublicKey       = "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec"
)

// Errors; each returned error wraps exactly one of them.
var (
	// ErrMalformed: not a query string, a repeated field, over MaxLength,
	// a missing or unparsable auth_date, or a field of the wrong shape.
	ErrMalformed = errors.New("webapp: malformed data")
	// ErrNoHash: the hash (or, for ValidateThirdParty, signature) field is
	// missing.
	ErrNoHash = errors.New("webapp: no hash or signature")
	// ErrBadHash: hash or signature does not match the data: forged,
	// altered, or signed for another bot.
	ErrBadHash = errors.New("webapp: hash or signature does not match")
	// ErrExpired: auth_date is older than the maximum age, or too far in
	// the future.
	ErrExpired = errors.New("webapp: auth_date out of the accepted window")
)

// User is a Telegram user as initData or the Login Widget describe it.
type User struct {
	ID                    int64  `json:"id"`
	IsBot                 bool   `json:"is_bot,omitempty"`
	FirstName             string `json:"first_name"`
	LastName              string `json:"last_name,omitempty"`
	Username              string `json:"username,omitempty"`
	LanguageCode          string `json:"language_code,omitempty"`
	IsPremium             bool   `json:"is_premium,omitempty"`
	AddedToAttachmentMenu bool   `json:"added_to_attachment_menu,omitempty"`
	AllowsWriteToPM       bool   `json:"allows_write_to_pm,omitempty"`
	PhotoURL              string `json:"photo_url,omitempty"`
}

// Chat is the chat a Mini App was opened from (attachment menu).
type Chat struct {
	ID       int64  `json:"id"`
	Type     string `json:"type"`
	Title    string `json:"title"`
	Username string `json:"username,omitempty"`
	PhotoURL string `json:"photo_url,omitempty"`
}

// InitData is a Mini App's initData (Telegram.WebApp.initData), parsed.
type InitData struct {
	QueryID      string // for answerWebAppQuery
	User         *User
	Receiver     *User // the chat partner, when opened from the attachment menu
	Chat         *Chat
	ChatType     string // "sender", "private", "group", "supergroup", "channel"
	ChatInstance string
	StartParam   string        // the startapp parameter of the link that opened the app
	CanSendAfter time.Duration // when answerWebAppQuery may be used
	AuthDate     time.Time
	Hash         string
	Signature    string // Ed25519 signature (base64url), for ValidateThirdParty
	// Fields holds every field as received (one value per key), including
	// ones this package does not know.
	Fields map[string]string
}

// Option changes how data is checked.
type Option func(*config)

type config struct {
	maxAge time.Duration
	skew   time.Duration
	now    func() time.Time
	key    ed25519.PublicKey
}

func newConfig(opts []Option) config {
	c := config{maxAge: DefaultMaxAge, skew: DefaultClockSkew, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithMaxAge sets how old auth_date may be (default DefaultMaxAge). 0 or
// less turns the check off: replayed data is then accepted forever.
func WithMaxAge(d time.Duration) Option { return func(c *config) { c.maxAge = d } }

// WithClock sets the clock the age is measured with (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithPublicKey sets the Ed25519 key ValidateThirdParty checks the
// signature with (default ProductionPublicKey; TestPublicKey for bots of
// Telegram's test environment).
func WithPublicKey(key ed25519.PublicKey) Option { return func(c *config) { c.key = key } }

// Parse parses initData without checking it: use it only for data already
// validated (e.g. stored after Validate).
func Parse(initData string) (*InitData, error) {
	fields, err := parseFields(initData)
	if err != nil {
		return nil, err
	}
	return decode(fields)
}

// Validate checks initData with the bot token and returns its content. It
// fails with an error wrapping ErrMalformed, ErrNoHash, ErrBadHash or
// ErrExpired.
func Validate(initData, token string, opts ...Option) (*InitData, error) {
	fields, err := parseFields(initData)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte("WebAppData"))
	mac.Write([]byte(token))
	if err := checkHash(fields, mac.Sum(nil)); err != nil {
		return nil, err
	}
	return checked(fields, newConfig(opts))
}

// ValidateThirdParty checks initData of the bot botID without its token,
// by the Ed25519 signature field: Telegram signs "<botID>:WebAppData\n"
// followed by the data-check-string of every field but hash and
// signature. It fails with an error wrapping ErrMalformed, ErrNoHash (no
// signature), ErrBadHash or ErrExpired.
func ValidateThirdParty(initData string, botID int64, opts ...Option) (*InitData, error) {
	cfg := newConfig(opts)
	if cfg.key == nil {
		k, _ := hex.DecodeString(ProductionPublicKey)
		cfg.key = k
	}
	if len(cfg.key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key of %d bytes", ErrMalformed, len(cfg.key))
	}
	fields, err := parseFields(initData)
	if err != nil {
		return nil, err
	}
	sigText, ok := fields["signature"]
	if !ok || sigText == "" {
		return nil, fmt.Errorf("%w: no signature field", ErrNoHash)
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sigText, "="))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is not a base64url Ed25519 signature", ErrBadHash)
	}
	msg := strconv.FormatInt(botID, 10) + ":WebAppData\n" + checkString(fields, "hash", "signature")
	if !ed25519.Verify(cfg.key, []byte(msg), sig) {
		return nil, ErrBadHash
	}
	return checked(fields, cfg)
}

// Sign returns fields encoded as initData signed with the bot token (hash
// set as Validate checks it; a hash in fields is replaced). It is for
// tests of Mini App back ends; Telegram signs real initData itself.
func Sign(fields url.Values, token string) string {
	v := url.Values{}
	for k, vs := range fields {
		if k != "hash" && len(vs) > 0 {
			v.Set(k, vs[0])
		}
	}
	mac := hmac.New(sha256.New, []byte("WebAppData"))
	mac.Write([]byte(token))
	flat := make(map[string]string, len(v))
	for k := range v {
		flat[k] = v.Get(k)
	}
	v.Set("hash", hex.EncodeToString(sum(mac.Sum(nil), checkString(flat, "hash"))))
	return v.Encode()
}

// parseFields splits a query string into one value per key, refusing
// repeated keys (the data-check-string would be ambiguous) and input over
// MaxLength.
func parseFields(s string) (map[string]string, error) {
	if len(s) > MaxLength {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(s), MaxLength)
	}
	v, err := url.ParseQuery(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	fields := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) != 1 {
			return nil, fmt.Errorf("%w: field %q given %d times", ErrMalformed, k, len(vs))
		}
		fields[k] = vs[0]
	}
	return fields, nil
}

// checkString returns the data-check-string of fields without the named
// ones: "key=value" sorted by key, joined by "\n".
func checkString(fields map[string]string, without ...string) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		skip := false
		for _, w := range without {
			skip = skip || k == w
		}
		if !skip {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(fields[k])
	}
	return b.String()
}

func sum(key []byte, msg string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// checkHash compares the hash field with the HMAC-SHA-256 under key of
// the data-check-string, in constant time.
func checkHash(fields map[string]string, key []byte) error {
	h, ok := fields["hash"]
	if !ok || h == "" {
		return fmt.Errorf("%w: no hash field", ErrNoHash)
	}
	got, err := hex.DecodeString(h)
	if err != nil {
		return fmt.Errorf("%w: hash is not hex", ErrBadHash)
	}
	if !hmac.Equal(got, sum(key, checkString(fields, "hash"))) {
		return ErrBadHash
	}
	return nil
}

// checked decodes validated fields and checks their age.
func checked(fields map[string]string, cfg config) (*InitData, error) {
	d, err := decode(fields)
	if err != nil {
		return nil, err
	}
	if err := cfg.checkAge(d.AuthDate); err != nil {
		return nil, err
	}
	return d, nil
}

func (c config) checkAge(at time.Time) error {
	now := c.now()
	switch {
	case at.After(now.Add(c.skew)):
		return fmt.Errorf("%w: auth_date %s is in the future", ErrExpired, at.UTC().Format(time.RFC3339))
	case c.maxAge > 0 && now.Sub(at) > c.maxAge:
		return fmt.Errorf("%w: auth_date %s is older than %s", ErrExpired, at.UTC().Format(time.RFC3339), c.maxAge)
	}
	return nil
}

func parseAuthDate(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, fmt.Errorf("%w: auth_date %q is not a Unix time", ErrMalformed, s)
	}
	return time.Unix(n, 0), nil
}

// decode fills an InitData from fields.
func decode(fields map[string]string) (*InitData, error) {
	d := &InitData{Fields: fields, QueryID: fields["query_id"], ChatType: fields["chat_type"],
		ChatInstance: fields["chat_instance"], StartParam: fields["start_param"], Hash: fields["hash"], Signature: fields["signature"]}
	var err error
	if d.AuthDate, err = parseAuthDate(fields["auth_date"]); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		dst  any
	}{{"user", &d.User}, {"receiver", &d.Receiver}, {"chat", &d.Chat}} {
		if s, ok := fields[f.name]; ok {
			if err := json.Unmarshal([]byte(s), f.dst); err != nil {
				return nil, fmt.Errorf("%w: field %s: %w", ErrMalformed, f.name, err)
			}
		}
	}
	if s, ok := fields["can_send_after"]; ok {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: can_send_after %q", ErrMalformed, s)
		}
		d.CanSendAfter = time.Duration(n) * time.Second
	}
	return d, nil
}

// LoginData is what the Telegram Login Widget reports about the user.
type LoginData struct {
	ID        int64
	FirstName string
	LastName  string
	Username  string
	PhotoURL  string
	AuthDate  time.Time
}

// ValidateLogin checks data from the Telegram Login Widget (the query
// parameters of its redirect, or the fields of its JavaScript callback)
// with the bot token: hash is the HMAC-SHA-256 of the data-check-string
// under the key SHA-256(token). It fails with an error wrapping
// ErrMalformed, ErrNoHash, ErrBadHash or ErrExpired.
func ValidateLogin(data url.Values, token string, opts ...Option) (*LoginData, error) {
	fields := make(map[string]string, len(data))
	n := 0
	for k, vs := range data {
		if len(vs) != 1 {
			return nil, fmt.Errorf("%w: field %q given %d times", ErrMalformed, k, len(vs))
		}
		n += len(k) + len(vs[0]) + 2
		fields[k] = vs[0]
	}
	if n > MaxLength {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, n, MaxLength)
	}
	key := sha256.Sum256([]byte(token))
	if err := checkHash(fields, key[:]); err != nil {
		return nil, err
	}
	at, err := parseAuthDate(fields["auth_date"])
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(fields["id"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: id %q", ErrMalformed, fields["id"])
	}
	if err := newConfig(opts).checkAge(at); err != nil {
		return nil, err
	}
	return &LoginData{ID: id, FirstName: fields["first_name"], LastName: fields["last_name"],
		Username: fields["username"], PhotoURL: fields["photo_url"], AuthDate: at}, nil
}
