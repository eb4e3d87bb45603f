package webapp_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/tidygram/tidygram/webapp"
)

// A Mini App's back end checks the initData the page forwards (here in
// an "Authorization: tma <initData>" header) before trusting the user in
// it.
func ExampleValidate() {
	const token = "123456:ABC-secret" // the bot's token, known only to the server
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		initData, ok := strings.CutPrefix(r.Header.Get("Authorization"), "tma ")
		if !ok {
			http.Error(w, "no initData", http.StatusUnauthorized)
			return
		}
		d, err := webapp.Validate(initData, token, webapp.WithMaxAge(time.Hour))
		switch {
		case errors.Is(err, webapp.ErrExpired):
			http.Error(w, "session expired: reopen the app", http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "invalid initData", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "hello %s (%d), opened with %q", d.User.FirstName, d.User.ID, d.StartParam)
	})

	// What Telegram would hand the page (tgtest's SimUser.WebAppInitData
	// makes the same for a simulated user).
	initData := webapp.Sign(url.Values{
		"user":        {`{"id":42,"first_name":"Ann"}`},
		"auth_date":   {fmt.Sprint(time.Now().Unix())},
		"start_param": {"summer-sale"},
	}, token)
	for _, auth := range []string{"tma " + initData, "tma " + strings.Replace(initData, "Ann", "Eve", 1)} {
		req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 hello Ann (42), opened with "summer-sale"
	// 403 invalid initData
}

// The Telegram Login Widget redirects to your site with the user's data
// in the query; ValidateLogin checks it with the bot token.
func ExampleValidateLogin() {
	const token = "123456:ABC-secret"
	// In a handler: r.URL.Query(). Signed here as the widget would.
	q := loginQuery(token, url.Values{"id": {"42"}, "first_name": {"Ann"}, "username": {"ann"}, "auth_date": {"1700000000"}})

	clock := webapp.WithClock(func() time.Time { return time.Unix(1700000600, 0) }) // ten minutes later
	d, err := webapp.ValidateLogin(q, token, webapp.WithMaxAge(time.Hour), clock)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.ID, d.Username, d.AuthDate.UTC().Format(time.DateTime))

	_, err = webapp.ValidateLogin(q, token, webapp.WithMaxAge(5*time.Minute), clock)
	fmt.Println(errors.Is(err, webapp.ErrExpired))
	// Output:
	// 42 ann 2023-11-14 22:13:20
	// true
}
