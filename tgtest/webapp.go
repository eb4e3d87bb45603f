package tgtest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// webAppUser is the user object of a Web App's initData.
type webAppUser struct {
	ID              int64  `json:"id"`
	FirstName       string `json:"first_name"`
	LastName        string `json:"last_name,omitempty"`
	Username        string `json:"username,omitempty"`
	LanguageCode    string `json:"language_code,omitempty"`
	AllowsWriteToPM bool   `json:"allows_write_to_pm,omitempty"`
}

// WebAppInitData returns the initData string (Telegram.WebApp.initData) a
// Web App opened by u from the bot receives: query_id, user (JSON),
// auth_date (now) and the fields of extra (which may replace any of those,
// e.g. auth_date for an old one, or add start_param), signed with hash as
// Telegram signs it: the hex HMAC-SHA-256 of the data-check-string (every
// field but hash, sorted by key, "key=value" joined by "\n") under the key
// HMAC-SHA-256("WebAppData", bot token).
func (u *SimUser) WebAppInitData(extra url.Values) string {
	user, _ := json.Marshal(webAppUser{ID: u.user.ID, FirstName: u.user.FirstName, LastName: u.user.LastName,
		Username: u.user.Username, LanguageCode: u.user.LanguageCode, AllowsWriteToPM: true})
	v := url.Values{}
	v.Set("query_id", "AAH"+strconv.FormatInt(u.s.misc.nextID(), 36)+"-"+strconv.FormatInt(u.user.ID, 36))
	v.Set("user", string(user))
	v.Set("auth_date", strconv.FormatInt(time.Now().Unix(), 10))
	for k, vs := range extra {
		v[k] = vs
	}
	v.Del("hash")
	mac := hmac.New(sha256.New, []byte("WebAppData"))
	mac.Write([]byte(u.s.token))
	v.Set("hash", signCheckString(mac.Sum(nil), v))
	return v.Encode()
}

// LoginWidgetData returns what the Telegram Login Widget hands a web site
// when u logs in with the bot: id, first_name, username, auth_date (now),
// the fields of extra (which may replace any of those) and hash — the hex
// HMAC-SHA-256 of the data-check-string under the key SHA-256(bot token).
func (u *SimUser) LoginWidgetData(extra url.Values) url.Values {
	v := url.Values{}
	v.Set("id", strconv.FormatInt(u.user.ID, 10))
	v.Set("first_name", u.user.FirstName)
	if u.user.Username != "" {
		v.Set("username", u.user.Username)
	}
	v.Set("auth_date", strconv.FormatInt(time.Now().Unix(), 10))
	for k, vs := range extra {
		v[k] = vs
	}
	v.Del("hash")
	key := sha256.Sum256([]byte(u.s.token))
	v.Set("hash", signCheckString(key[:], v))
	return v
}

// signCheckString returns the hex HMAC-SHA-256 under key of v's
// data-check-string (first value of each key but hash).
func signCheckString(key []byte, v url.Values) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		if k != "hash" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k + "=" + v.Get(k))
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(b.String()))
	return hex.EncodeToString(mac.Sum(nil))
}

// SendWebAppData sends data from a Web App opened with a keyboard button
// labelled buttonText (Telegram.WebApp.sendData): the bot gets a message
// with web_app_data in the private chat.
func (u *SimUser) SendWebAppData(buttonText, data string) (Message, error) {
	return u.post(u.chat, &Message{WebAppData: &WebAppData{Data: data, ButtonText: buttonText}})
}

// PreCheckoutAnswer is what the bot answered to a pre-checkout query.
type PreCheckoutAnswer struct {
	OK           bool   `json:"ok"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// PreCheckout has u confirm a payment of total (in the currency's smallest
// units) for the invoice with payload: the bot gets a pre_checkout_query
// update. It returns the query id, for Server.WaitPreCheckoutAnswer.
// (Invoices themselves are not modelled.)
func (u *SimUser) PreCheckout(currency string, total int64, payload string) (string, error) {
	id := u.s.misc.newQuery(queryPreCheckout)
	q := &PreCheckoutQuery{ID: id, From: u.user, Currency: currency, TotalAmount: total, InvoicePayload: payload}
	if _, err := u.s.enqueueValue("pre_checkout_query", u.user.ID, q); err != nil {
		return "", err
	}
	return id, nil
}

// WaitPreCheckoutAnswer blocks until the bot answers pre-checkout query id
// (as returned by SimUser.PreCheckout), ctx ends or the server closes.
func (s *Server) WaitPreCheckoutAnswer(ctx context.Context, id string) (PreCheckoutAnswer, error) {
	q, err := s.misc.wait(ctx, s.done, id)
	if err != nil {
		return PreCheckoutAnswer{}, err
	}
	return q.pre, nil
}

func (s *Server) answerPreCheckoutQuery(rq *request) (any, error) {
	var p struct {
		ID           strParam `json:"pre_checkout_query_id"`
		OK           bool     `json:"ok"`
		ErrorMessage strParam `json:"error_message"`
	}
	if err := rq.decode(&p); err != nil {
		return nil, err
	}
	if !p.OK && strings.TrimSpace(string(p.ErrorMessage)) == "" {
		return nil, badRequest("error_message is empty")
	}
	err := s.misc.answer(string(p.ID), queryPreCheckout, func(q *query) {
		q.pre = PreCheckoutAnswer{OK: p.OK, ErrorMessage: string(p.ErrorMessage)}
	})
	if err != nil {
		return nil, err
	}
	return true, nil
}
