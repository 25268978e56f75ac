package daemon_test

import (
	"slices"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestDescribeDPoP: after a sign-in whose token is DPoP-bound, the describe
// step (MCP initialize and tools/list with the daemon's token) sends it as
// DPoP with a proof per request, answers the server's nonce demand, and
// records the server's tools. Before, it sent the bound token as Bearer
// without a proof: the server refused every request and the server kept
// no description (issue #14).
func TestDescribeDPoP(t *testing.T) {
	// signedInDPoP returns after the describe step (Login with Wait).
	a, d, _ := signedInDPoP(t)
	a.Mu.Lock()
	refused, accepted := slices.Clone(a.Refused), a.Accepted
	a.Mu.Unlock()
	for _, why := range refused {
		// The sign-in probes the server without a token; the describe
		// step's first request learns the nonce.
		if why != "no current nonce" && why != `no DPoP Authorization (got scheme "")` {
			t.Errorf("the server refused a describe request: %s", why)
		}
	}
	var info *ipc.ServerInfo
	for _, s := range d.Servers() {
		if s.URL == a.URL {
			info = &s
		}
	}
	if info == nil || !slices.Equal(info.Tools, []string{"whoami"}) || accepted == 0 {
		t.Fatalf("after the sign-in: %+v, %d requests accepted; want the server described with its tool whoami", info, accepted)
	}
}
