// Package loopback holds the one test of whether a host names this
// machine's loopback interface, shared by every check that allows plain
// http, binds a listener, or accepts a Host header only on loopback.
package loopback

import (
	"net/netip"
	"strings"
)

// Host reports whether host (a name or an IP literal, without port or
// brackets, as url.URL.Hostname and net.SplitHostPort return it) is this
// machine's loopback: "localhost" in any case, or an IP in 127.0.0.0/8 or
// ::1 (an IPv4-mapped 127.x included). Any other name is not, even one
// that resolves to 127.0.0.1 today (a DNS rebinding target), nor is
// "localhost." or a subdomain of localhost.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
