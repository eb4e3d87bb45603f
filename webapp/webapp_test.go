package webapp_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidygram/tidygram/tgtest"
	"github.com/tidygram/tidygram/webapp"
)

// A published example (tma.js documentation) of initData and its token.
const (
	vectorToken    = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8"
	vectorInitData = "query_id=AAHdF6IQAAAAAN0XohDhrOrc" +
		"&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium%22%3Atrue%7D" +
		"&auth_date=1662771648" +
		"&hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2"
)

func TestValidateKnownVector(t *testing.T) {
	d, err := webapp.Validate(vectorInitData, vectorToken, webapp.WithMaxAge(0))
	if err != nil {
		t.Fatal(err)
	}
	if d.User == nil || d.User.ID != 279058397 || d.User.Username != "vdkfrost" || !d.User.IsPremium ||
		d.QueryID != "AAHdF6IQAAAAAN0XohDhrOrc" || d.AuthDate.Unix() != 1662771648 {
		t.Fatalf("decoded %+v user %+v", d, d.User)
	}
	if _, err := webapp.Validate(vectorInitData, vectorToken); !errors.Is(err, webapp.ErrExpired) {
		t.Fatalf("a 2022 auth_date with the default max age: %v", err)
	}
}

// replace returns initData with field k set to v (hash kept: no longer
// matching unless k is hash).
func replace(initData, k, v string) string {
	q, _ := url.ParseQuery(initData)
	q.Set(k, v)
	return q.Encode()
}

func TestValidate(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	alice := srv.NewUser("alice")
	now := time.Now()
	good := alice.WebAppInitData(url.Values{"start_param": {"shop"}, "chat_type": {"private"}, "can_send_after": {"10"}})
	old := alice.WebAppInitData(url.Values{"auth_date": {strconv.FormatInt(now.Add(-25*time.Hour).Unix(), 10)}})
	future := alice.WebAppInitData(url.Values{"auth_date": {strconv.FormatInt(now.Add(time.Hour).Unix(), 10)}})
	noDate := webapp.Sign(url.Values{"user": {`{"id":1,"first_name":"a"}`}}, srv.Token())
	badUser := webapp.Sign(url.Values{"user": {`{"id":"x"}`}, "auth_date": {strconv.FormatInt(now.Unix(), 10)}}, srv.Token())
	tests := []struct {
		name     string
		initData string
		token    string
		opts     []webapp.Option
		want     error
	}{
		{"valid", good, srv.Token(), nil, nil},
		{"wrong token", good, "1:other", nil, webapp.ErrBadHash},
		{"user altered", replace(good, "user", `{"id":1,"first_name":"mallory"}`), srv.Token(), nil, webapp.ErrBadHash},
		{"field added", good + "&admin=true", srv.Token(), nil, webapp.ErrBadHash},
		{"hash altered", replace(good, "hash", strings.Repeat("0", 64)), srv.Token(), nil, webapp.ErrBadHash},
		{"hash not hex", replace(good, "hash", "zz"), srv.Token(), nil, webapp.ErrBadHash},
		{"no hash", replace(good, "hash", ""), srv.Token(), nil, webapp.ErrNoHash},
		{"repeated field", good + "&start_param=other", srv.Token(), nil, webapp.ErrMalformed},
		{"semicolon", good + ";x=1", srv.Token(), nil, webapp.ErrMalformed},
		{"too long", good + "&pad=" + strings.Repeat("a", webapp.MaxLength), srv.Token(), nil, webapp.ErrMalformed},
		{"too old", old, srv.Token(), nil, webapp.ErrExpired},
		{"old but allowed", old, srv.Token(), []webapp.Option{webapp.WithMaxAge(48 * time.Hour)}, nil},
		{"age check off", old, srv.Token(), []webapp.Option{webapp.WithMaxAge(0)}, nil},
		{"from the future", future, srv.Token(), nil, webapp.ErrExpired},
		{"clock moved", good, srv.Token(), []webapp.Option{webapp.WithClock(func() time.Time { return now.Add(48 * time.Hour) })}, webapp.ErrExpired},
		{"no auth_date", noDate, srv.Token(), nil, webapp.ErrMalformed},
		{"user not an object", badUser, srv.Token(), nil, webapp.ErrMalformed},
		{"empty", "", srv.Token(), nil, webapp.ErrNoHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := webapp.Validate(tt.initData, tt.token, tt.opts...)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if err != nil {
				for _, s := range []error{webapp.ErrMalformed, webapp.ErrNoHash, webapp.ErrBadHash, webapp.ErrExpired} {
					if s != tt.want && errors.Is(err, s) {
						t.Fatalf("%v also matches %v", err, s)
					}
				}
				return
			}
			if d.User == nil || d.User.ID != alice.ID() || d.User.FirstName != "alice" || d.QueryID == "" {
				t.Fatalf("decoded %+v", d)
			}
			if tt.name == "valid" && (d.StartParam != "shop" || d.ChatType != "private" || d.CanSendAfter != 10*time.Second || d.Fields["start_param"] != "shop") {
				t.Fatalf("decoded %+v", d)
			}
		})
	}
}

// signThirdParty signs fields as Telegram does for third parties.
func signThirdParty(priv ed25519.PrivateKey, botID int64, fields url.Values) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + "=" + fields.Get(k)
	}
	sig := ed25519.Sign(priv, []byte(strconv.FormatInt(botID, 10)+":WebAppData\n"+strings.Join(lines, "\n")))
	out := url.Values{}
	for k, v := range fields {
		out[k] = v
	}
	out.Set("signature", base64.RawURLEncoding.EncodeToString(sig))
	out.Set("hash", strings.Repeat("ab", 32)) // the bot's HMAC: not checked by a third party
	return out.Encode()
}

func TestValidateThirdParty(t *testing.T) {
	seed := sha256.Sum256([]byte("test key"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	fields := url.Values{"user": {`{"id":7,"first_name":"Ann"}`}, "auth_date": {strconv.FormatInt(time.Now().Unix(), 10)}, "query_id": {"q1"}}
	good := signThirdParty(priv, 42, fields)
	key := webapp.WithPublicKey(pub)
	tests := []struct {
		name     string
		initData string
		botID    int64
		opts     []webapp.Option
		want     error
	}{
		{"valid", good, 42, []webapp.Option{key}, nil},
		{"another bot", good, 43, []webapp.Option{key}, webapp.ErrBadHash},
		{"Telegram's key", good, 42, nil, webapp.ErrBadHash},
		{"altered", replace(good, "query_id", "q2"), 42, []webapp.Option{key}, webapp.ErrBadHash},
		{"padded signature accepted", replace(good, "signature", mustQuery(good).Get("signature")+"=="), 42, []webapp.Option{key}, nil},
		{"signature not base64", replace(good, "signature", "!!"), 42, []webapp.Option{key}, webapp.ErrBadHash},
		{"no signature", replace(good, "signature", ""), 42, []webapp.Option{key}, webapp.ErrNoHash},
		{"short key", good, 42, []webapp.Option{webapp.WithPublicKey(pub[:5])}, webapp.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := webapp.ValidateThirdParty(tt.initData, tt.botID, tt.opts...)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if err == nil && (d.User.ID != 7 || d.QueryID != "q1" || d.Signature == "") {
				t.Fatalf("decoded %+v", d)
			}
		})
	}
	for _, k := range []string{webapp.ProductionPublicKey, webapp.TestPublicKey} {
		if b, err := hex.DecodeString(k); err != nil || len(b) != ed25519.PublicKeySize {
			t.Fatalf("key %s: %d bytes, %v", k, len(b), err)
		}
	}
}

func mustQuery(s string) url.Values { v, _ := url.ParseQuery(s); return v }

func TestValidateLogin(t *testing.T) {
	srv := tgtest.NewServer(tgtest.WithTB(t))
	alice := srv.NewUser("alice")
	good := alice.LoginWidgetData(url.Values{"photo_url": {"https://t.me/i/userpic/1.jpg"}})
	with := func(k, v string) url.Values {
		c := url.Values{}
		for key, vs := range good {
			c[key] = append([]string(nil), vs...)
		}
		if v == "" {
			c.Del(k)
		} else {
			c.Set(k, v)
		}
		return c
	}
	twice := with("username", "")
	twice["first_name"] = []string{"a", "b"}
	tests := []struct {
		name  string
		data  url.Values
		token string
		opts  []webapp.Option
		want  error
	}{
		{"valid", good, srv.Token(), nil, nil},
		{"wrong token", good, "1:x", nil, webapp.ErrBadHash},
		{"id altered", with("id", "1"), srv.Token(), nil, webapp.ErrBadHash},
		{"no hash", with("hash", ""), srv.Token(), nil, webapp.ErrNoHash},
		{"repeated", twice, srv.Token(), nil, webapp.ErrMalformed},
		{"expired", good, srv.Token(), []webapp.Option{webapp.WithClock(func() time.Time { return time.Now().Add(25 * time.Hour) })}, webapp.ErrExpired},
		{"web app key is not the login key", mustQuery(alice.WebAppInitData(nil)), srv.Token(), nil, webapp.ErrBadHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := webapp.ValidateLogin(tt.data, tt.token, tt.opts...)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if err == nil && (d.ID != alice.ID() || d.FirstName != "alice" || d.Username != alice.User().Username || d.PhotoURL == "") {
				t.Fatalf("decoded %+v", d)
			}
		})
	}
}

// FuzzValidate: no input panics; whatever validates parses to the same
// fields, and what Sign makes of parsed fields validates.
func FuzzValidate(f *testing.F) {
	const token = "123:secret"
	now := strconv.FormatInt(time.Now().Unix(), 10)
	f.Add(webapp.Sign(url.Values{"user": {`{"id":1,"first_name":"a"}`}, "auth_date": {now}}, token))
	f.Add(vectorInitData)
	f.Add("a=1&a=2")
	f.Add("user=%7B&hash=00&auth_date=1")
	f.Add("%zz;&=&hash")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := webapp.Validate(s, token, webapp.WithMaxAge(0))
		p, perr := webapp.Parse(s)
		if err == nil {
			if perr != nil || len(p.Fields) != len(d.Fields) {
				t.Fatalf("validated but Parse: %v", perr)
			}
		}
		if perr != nil {
			return
		}
		v := url.Values{}
		for k, x := range p.Fields {
			v.Set(k, x)
		}
		if _, err := webapp.Validate(webapp.Sign(v, token), token, webapp.WithMaxAge(0)); err != nil && !errors.Is(err, webapp.ErrExpired) {
			t.Fatalf("signed %q: %v", v.Encode(), err)
		}
		if _, err := webapp.Validate(webapp.Sign(v, token), "123:other", webapp.WithMaxAge(0)); !errors.Is(err, webapp.ErrBadHash) {
			t.Fatalf("another token accepted: %v", err)
		}
	})
}

// The key of the Login Widget is SHA-256(token), not the Web App key.
func TestLoginKey(t *testing.T) {
	const token = "123:secret"
	v := url.Values{"id": {"5"}, "first_name": {"Bo"}, "auth_date": {strconv.FormatInt(time.Now().Unix(), 10)}}
	key := sha256.Sum256([]byte(token))
	mac := hmac.New(sha256.New, key[:])
	mac.Write([]byte("auth_date=" + v.Get("auth_date") + "\nfirst_name=Bo\nid=5"))
	v.Set("hash", hex.EncodeToString(mac.Sum(nil)))
	if d, err := webapp.ValidateLogin(v, token); err != nil || d.ID != 5 {
		t.Fatalf("%+v %v", d, err)
	}
}

// loginQuery signs v as the Login Widget does (key SHA-256(token)).
func loginQuery(token string, v url.Values) url.Values {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + "=" + v.Get(k)
	}
	key := sha256.Sum256([]byte(token))
	mac := hmac.New(sha256.New, key[:])
	mac.Write([]byte(strings.Join(lines, "\n")))
	v.Set("hash", hex.EncodeToString(mac.Sum(nil)))
	return v
}
