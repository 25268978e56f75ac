package oauth_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/oauth"
)

type nopRegs struct{}

func (nopRegs) LoadRegistration(context.Context, string) (*oauth.Registration, error) {
	return nil, nil
}
func (nopRegs) SaveRegistration(context.Context, *oauth.Registration) error { return nil }
func (nopRegs) DropRegistration(context.Context, string) error              { return nil }

func TestDeviceGrant(t *testing.T) {
	as := testfake.NewDeviceAS(t)
	flow := &oauth.Flow{
		HTTP:          oauth.NewHTTPClient(oauth.HTTPOptions{}),
		Client:        oauth.ClientConfig{RedirectURIs: []string{"http://127.0.0.1:1/callback"}},
		Registrations: nopRegs{},
		WantRefresh:   true,
	}
	var shown *oauth.DeviceAuthorization
	g, err := flow.Login(context.Background(), oauth.LoginRequest{
		ServerURL: as.Srv.URL + "/mcp",
		Browser: func(context.Context, *oauth.Authorization) (string, error) {
			t.Error("the browser was used although the device grant was accepted")
			return "", context.Canceled
		},
		Device: presenter{use: true, shown: &shown},
	})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if shown == nil || shown.UserCode != "WDJB-MJHT" || shown.VerificationURI != as.Srv.URL+"/activate" {
		t.Fatalf("presented %+v", shown)
	}
	if g.Token.AccessToken != "device-access" || g.Token.RefreshToken != "device-refresh" || g.Metadata.DeviceAuthorizationEndpoint != as.Srv.URL+"/device" {
		t.Fatalf("grant %+v", g.Token)
	}
	as.Mu.Lock()
	defer as.Mu.Unlock()
	if !slices.Contains(as.Registered, "urn:ietf:params:oauth:grant-type:device_code") {
		t.Errorf("registration grant_types %v lack the device grant", as.Registered)
	}
	if got := as.DeviceForm["resource"]; len(got) != 1 || got[0] != as.Srv.URL+"/mcp" {
		t.Errorf("device authorization request resource = %v", got)
	}
	if got := as.TokenForm["resource"]; len(got) != 1 || got[0] != as.Srv.URL+"/mcp" {
		t.Errorf("token request resource = %v", got)
	}
	if as.Polls != 2 {
		t.Errorf("token endpoint polled %d times, want 2 (pending, then approved)", as.Polls)
	}
}

func TestDeviceGrantDeclined(t *testing.T) {
	as := testfake.NewDeviceAS(t)
	flow := &oauth.Flow{
		HTTP:          oauth.NewHTTPClient(oauth.HTTPOptions{}),
		Client:        oauth.ClientConfig{RedirectURIs: []string{"http://127.0.0.1:1/callback"}},
		Registrations: nopRegs{},
	}
	browsed := false
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := flow.Login(ctx, oauth.LoginRequest{
		ServerURL: as.Srv.URL + "/mcp",
		Browser: func(context.Context, *oauth.Authorization) (string, error) {
			browsed = true
			return "", context.Canceled
		},
		Device: presenter{use: false},
	})
	if !browsed || err == nil {
		t.Fatalf("declined device grant: browser used %v, err %v", browsed, err)
	}
	as.Mu.Lock()
	defer as.Mu.Unlock()
	if as.DeviceForm != nil {
		t.Error("a device authorization was requested for a sign-in that wanted the browser")
	}
}

type presenter struct {
	use   bool
	shown **oauth.DeviceAuthorization
}

func (p presenter) UseDevice(context.Context) bool { return p.use }
func (p presenter) Present(_ context.Context, d *oauth.DeviceAuthorization) error {
	*p.shown = d
	return nil
}
