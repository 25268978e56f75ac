package daemon

import (
	"context"
	"errors"
	"slices"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// registrations keeps the engine's client registrations in the store, keyed
// by issuer; the client secret is sealed there.
//
// callback, when set (the flow's copy), hides a registration whose redirect
// URIs do not include it — one imported from another program, or made
// before MCPAUTH_CALLBACK_ADDR changed — so that a sign-in registers anew
// instead of sending the browser where nobody listens. Refreshes (which load
// without callback) keep using it.
type registrations struct {
	st       *store.Store
	callback string
}

func (r registrations) LoadRegistration(_ context.Context, issuer string) (*oauth.Registration, error) {
	rec, err := r.st.GetRegistration(issuer)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r.callback != "" && len(rec.RedirectURIs) > 0 && !slices.Contains(rec.RedirectURIs, r.callback) {
		return nil, nil
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

// importedRegistration is the registration kept with imported tokens.
func importedRegistration(c *store.TokenClient) *oauth.Registration {
	return &oauth.Registration{
		Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		AuthMethod: c.AuthMethod, Method: oauth.MethodImported, RedirectURIs: c.RedirectURIs,
	}
}
