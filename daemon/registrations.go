package daemon

import (
	"context"
	"errors"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// registrations keeps the engine's client registrations in the store, keyed
// by issuer; the client secret is sealed there.
type registrations struct{ st *store.Store }

func (r registrations) LoadRegistration(_ context.Context, issuer string) (*oauth.Registration, error) {
	rec, err := r.st.GetRegistration(issuer)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &oauth.Registration{
		Issuer: rec.Issuer, ClientID: rec.ClientID, ClientSecret: rec.ClientSecret,
		AuthMethod: rec.AuthMethod, Method: rec.Method, RedirectURIs: rec.RedirectURIs, CreatedAt: rec.CreatedAt,
	}, nil
}

func (r registrations) SaveRegistration(_ context.Context, reg *oauth.Registration) error {
	return r.st.PutRegistration(&store.Registration{
		Issuer: reg.Issuer, ClientID: reg.ClientID, ClientSecret: reg.ClientSecret,
		AuthMethod: reg.AuthMethod, Method: reg.Method, RedirectURIs: reg.RedirectURIs, CreatedAt: reg.CreatedAt,
	})
}

func (r registrations) DropRegistration(_ context.Context, issuer string) error {
	return r.st.DeleteRegistration(issuer)
}
