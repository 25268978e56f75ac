package tray

import (
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func TestSignInInfo(t *testing.T) {
	for _, c := range []struct {
		s    ipc.ServerInfo
		want string
	}{
		{ipc.ServerInfo{}, "Sign-in: in the browser"},
		{ipc.ServerInfo{DPoP: true}, "Sign-in: in the browser · DPoP-bound tokens"},
		{ipc.ServerInfo{Grant: ipc.GrantClientCredentials, DPoP: true}, "Sign-in: client credentials (no browser) · DPoP-bound tokens"},
		{ipc.ServerInfo{Grant: ipc.GrantJWTBearer}, "Sign-in: workload identity (no browser)"},
		{ipc.ServerInfo{Grant: ipc.GrantEnterprise}, "Sign-in: company SSO (no browser)"},
		{ipc.ServerInfo{Grant: "future_grant"}, "Sign-in: future_grant (no browser)"},
	} {
		if got := signInInfo(c.s); got != c.want {
			t.Errorf("signInInfo(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}
