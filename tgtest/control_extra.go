package tgtest

import (
	"net/http"
	"net/url"
	"strconv"
)

// albumItem is one part of an album in the control API: a photo, or a
// document with a name.
type albumItem struct {
	Photo   []byte `json:"photo"` // base64 in JSON
	Name    string `json:"name"`
	File    []byte `json:"file"`
	Caption string `json:"caption"`
}

func values(m map[string]string) url.Values {
	v := url.Values{}
	for k, x := range m {
		v.Set(k, x)
	}
	return v
}

// ctlUserExtra serves the user actions of albums, Web Apps, payments and
// business accounts.
func (s *Server) ctlUserExtra(u *SimUser, g *SimGroup, action string, p *userAction) (any, error) {
	switch action {
	case "album":
		items := make([]Media, len(p.Items))
		for i, it := range p.Items {
			items[i] = Media{Photo: it.Photo, Name: it.Name, Data: it.File, Caption: it.Caption}
		}
		return u.SendAlbumTo(g, items...)
	case "webapp":
		return map[string]string{"init_data": u.WebAppInitData(values(p.Extra))}, nil
	case "login":
		v := u.LoginWidgetData(values(p.Extra))
		out := make(map[string]string, len(v))
		for k := range v {
			out[k] = v.Get(k)
		}
		return out, nil
	case "webapp_data":
		return u.SendWebAppData(p.ButtonText, p.Data)
	case "precheckout":
		id, err := u.PreCheckout(p.Currency, p.Total, p.Payload)
		return map[string]string{"pre_checkout_query_id": id}, err
	case "business":
		b, err := u.ConnectBusiness()
		if err != nil {
			return nil, err
		}
		return map[string]string{"business_connection_id": b.ID()}, nil
	}
	return nil, ctlErr(http.StatusNotFound, "tgtest: unknown user action %q", action)
}

// simBusiness returns the business connection id as a SimBusiness.
func (s *Server) simBusiness(id string) (*SimBusiness, error) {
	s.biz.mu.Lock()
	c := s.biz.byID[id]
	var owner int64
	if c != nil {
		owner = c.conn.User.ID
	}
	s.biz.mu.Unlock()
	if c == nil {
		return nil, ctlErr(http.StatusNotFound, "tgtest: no business connection %q", id)
	}
	u, err := s.simUser(owner)
	if err != nil {
		return nil, err
	}
	return &SimBusiness{s: s, owner: u, c: c}, nil
}

func (s *Server) ctlBusinessSend(r *http.Request) (any, error) {
	b, err := s.simBusiness(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	var p struct {
		UserID int64  `json:"user_id"`
		Text   string `json:"text"`
	}
	if err := decodeBody(r, &p); err != nil {
		return nil, err
	}
	customer, err := s.simUser(p.UserID)
	if err != nil {
		return nil, err
	}
	return b.Send(customer, p.Text)
}

func (s *Server) ctlBusinessMessages(r *http.Request) (any, error) {
	b, err := s.simBusiness(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseInt(r.URL.Query().Get("user_id"), 10, 64)
	if err != nil {
		return nil, ctlErr(http.StatusBadRequest, "tgtest: user_id is required")
	}
	customer, err := s.simUser(uid)
	if err != nil {
		return nil, err
	}
	nq := r.URL.Query().Get("n")
	if nq == "" {
		return nonNil(b.Messages(customer)), nil
	}
	n, err := strconv.Atoi(nq)
	if err != nil || n < 0 {
		return nil, ctlErr(http.StatusBadRequest, "tgtest: bad n %q", nq)
	}
	ctx, cancel := waitCtx(r)
	defer cancel()
	msgs, err := b.WaitMessages(ctx, customer, n)
	return nonNil(msgs), err
}

func (s *Server) ctlGroupStatus(r *http.Request) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	g, err := s.simGroup(id)
	if err != nil || g == nil {
		return nil, ctlErr(http.StatusNotFound, "tgtest: no group %d", id)
	}
	var p struct {
		By     int64  `json:"by"`
		UserID int64  `json:"user_id"`
		Status string `json:"status"`
	}
	if err := decodeBody(r, &p); err != nil {
		return nil, err
	}
	by, err := s.simUser(p.By)
	if err != nil {
		return nil, err
	}
	if p.UserID == 0 {
		return true, g.SetBotStatus(by, p.Status)
	}
	u, err := s.simUser(p.UserID)
	if err != nil {
		return nil, err
	}
	return true, g.SetStatus(by, u, p.Status)
}
