package oauth

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// TestAddressClass: the network policy's sorting of addresses, IPv4, IPv6
// and the IPv6 forms that carry an IPv4 address.
func TestAddressClass(t *testing.T) {
	for _, tt := range []struct {
		ip   string
		want addrClass
	}{
		{"93.184.215.14", addrPublic},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", addrPublic},
		{"::ffff:93.184.215.14", addrPublic},
		{"64:ff9b::5db8:d70e", addrPublic}, // NAT64 of 93.184.215.14
		{"127.0.0.1", addrLoopback},
		{"127.255.255.254", addrLoopback},
		{"::1", addrLoopback},
		{"::ffff:127.0.0.1", addrLoopback},
		{"10.0.0.1", addrPrivate},
		{"172.16.0.1", addrPrivate},
		{"172.31.255.255", addrPrivate},
		{"192.168.1.1", addrPrivate},
		{"::ffff:10.0.0.1", addrPrivate},
		{"::ffff:192.168.0.1", addrPrivate},
		{"64:ff9b::a00:1", addrPrivate},     // NAT64 of 10.0.0.1
		{"64:ff9b::a9fe:a9fe", addrPrivate}, // NAT64 of 169.254.169.254
		{"169.254.169.254", addrPrivate},    // the cloud metadata service
		{"::ffff:169.254.169.254", addrPrivate},
		{"fe80::1", addrPrivate},
		{"fd00::1", addrPrivate},
		{"fc00::1", addrPrivate},
		{"fd00:ec2::254", addrPrivate}, // AWS's IPv6 metadata service
		{"100.64.0.1", addrPrivate},
		{"172.32.0.1", addrPublic},
		{"0.0.0.0", addrReserved},
		{"0.1.2.3", addrReserved},
		{"::", addrReserved},
		{"::10.0.0.1", addrReserved}, // IPv4-compatible (deprecated)
		{"224.0.0.1", addrReserved},
		{"ff02::1", addrReserved},
		{"255.255.255.255", addrReserved},
		{"240.0.0.1", addrReserved},
		{"198.18.0.1", addrReserved},
		{"fec0::1", addrReserved},
	} {
		if got := addressClass(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("%s: class %d, want %d", tt.ip, got, tt.want)
		}
	}
}

// TestCheckDial: the dial-time rule, which sees the resolved address (so a
// name rebound to a forbidden address is refused too).
func TestCheckDial(t *testing.T) {
	for _, tt := range []struct {
		addr                        string
		allowLoopback, allowPrivate bool
		want                        string // "" allowed, else a part of the error
	}{
		{"93.184.215.14:443", false, false, ""},
		{"[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", false, false, ""},
		{"127.0.0.1:8080", true, false, ""},
		{"[::1]:8080", true, false, ""},
		{"127.0.0.1:8080", false, false, "loopback address 127.0.0.1"},
		{"[::1]:8080", false, false, "loopback address ::1"},
		{"[::ffff:127.0.0.1]:80", false, false, "loopback address"},
		{"10.0.0.1:443", true, false, "non-public address 10.0.0.1"},
		{"169.254.169.254:80", true, false, "non-public address 169.254.169.254"},
		{"[fe80::1]:80", true, false, "non-public address fe80::1"},
		{"[fd00::1]:80", true, false, "non-public address fd00::1"},
		{"[::ffff:10.0.0.1]:80", true, false, "non-public address"},
		{"10.0.0.1:443", false, true, ""},
		{"169.254.169.254:80", false, true, ""},
		{"0.0.0.0:80", true, true, "non-public address 0.0.0.0"},
		{"224.0.0.1:80", true, true, "non-public address"},
		{"example.com:443", true, true, "non-IP address"},
	} {
		err := checkDial(tt.addr, tt.allowLoopback, tt.allowPrivate)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s (loopback %v, private %v): %v", tt.addr, tt.allowLoopback, tt.allowPrivate, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s (loopback %v, private %v): err %v, want %q", tt.addr, tt.allowLoopback, tt.allowPrivate, err, tt.want)
		}
	}
}

// TestCheckRedirect: a redirect stays within the first request's origin.
func TestCheckRedirect(t *testing.T) {
	req := func(raw string) *http.Request {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	for _, tt := range []struct {
		from, to string
		want     string // "" followed
	}{
		{"https://mcp.example.com/mcp", "https://mcp.example.com/mcp/", ""},
		{"https://mcp.example.com/mcp", "https://MCP.example.com:443/other", ""},
		{"http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080/v2/mcp", ""},
		{"https://mcp.example.com/mcp", "https://evil.example.com/mcp", "another host"},
		{"https://mcp.example.com/mcp", "https://mcp.example.com:8443/mcp", "another host"},
		{"https://mcp.example.com/mcp", "http://mcp.example.com/mcp", "from https to http"},
		{"http://mcp.example.com/mcp", "https://mcp.example.com/mcp", "another host"},
		{"http://127.0.0.1:8080/mcp", "http://127.0.0.1:8081/mcp", "another host"},
		{"http://127.0.0.1:8080/mcp", "http://localhost:8080/mcp", "another host"},
		{"https://mcp.example.com/mcp", "http://169.254.169.254/latest/meta-data/", "from https to http"},
		{"https://mcp.example.com/mcp", "https://10.0.0.1/", "another host"},
	} {
		err := CheckRedirect(req(tt.to), []*http.Request{req(tt.from)})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s → %s: %v", tt.from, tt.to, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s → %s: err %v, want %q", tt.from, tt.to, err, tt.want)
		}
	}
	// The origin is the first request's, however many hops within it.
	via := []*http.Request{req("https://a.example/1"), req("https://a.example/2")}
	if err := CheckRedirect(req("https://b.example/3"), via); err == nil {
		t.Error("a later hop left the origin")
	}
}
