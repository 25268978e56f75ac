package proxy

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/mcpauthd/mcpauthd/internal/loopback"
)

// Mode says which upstream transports to try, in mcp-remote's words.
type Mode string

const (
	// HTTPFirst tries Streamable HTTP and falls back to the legacy HTTP+SSE
	// transport when the server answers the first POST with 404 or 405.
	HTTPFirst Mode = "http-first"
	// SSEFirst tries the legacy HTTP+SSE transport first and falls back to
	// Streamable HTTP when the SSE GET is answered with 404 or 405.
	SSEFirst Mode = "sse-first"
	HTTPOnly Mode = "http-only"
	SSEOnly  Mode = "sse-only"
)

// ParseMode checks s; "" means HTTPFirst.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return HTTPFirst, nil
	case HTTPFirst, SSEFirst, HTTPOnly, SSEOnly:
		return m, nil
	}
	return "", fmt.Errorf("--transport %q: want http-first, sse-first, http-only or sse-only", s)
}

// envRef is compiled on first use (a --header with a value).
var envRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`) })

// ParseHeader reads one --header argument, "Name: value", as mcp-remote
// does: ${VAR} in the value is replaced by the environment variable VAR
// (empty when unset). Authorization is refused: mcpauthd supplies it. The
// error names the header, never its value.
func ParseHeader(arg string, getenv func(string) string) (name, value string, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	name, value, ok := strings.Cut(arg, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return "", "", fmt.Errorf("--header: want \"Name: value\"")
	}
	if strings.EqualFold(name, "Authorization") {
		return "", "", fmt.Errorf("--header %s: mcpauthd supplies Authorization from your sign-in; drop this header", name)
	}
	re := envRef()
	value = re.ReplaceAllStringFunc(strings.TrimSpace(value), func(ref string) string {
		return getenv(re.FindStringSubmatch(ref)[1])
	})
	if strings.ContainsAny(value, "\r\n") {
		return "", "", fmt.Errorf("--header %s: the value holds a line break", name)
	}
	return http.CanonicalHeaderKey(name), value, nil
}

// CheckURL accepts an absolute http(s) URL without user info; plain http
// only for a loopback host unless allowHTTP.
func CheckURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("the URL must not carry user info; mcpauthd signs in for you")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowHTTP || loopback.Host(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s is plain http to a host that is not this machine; use https, or --allow-http", u.Redacted())
	}
	return fmt.Errorf("%s: want an http or https URL", u.Redacted())
}
