// Package settings reads mcpauthd's settings: embedded defaults, then the
// settings file (TOML, $XDG_CONFIG_HOME/mcpauthd/config.toml on Linux), then
// the environment, each overriding the one before. Every setting knows where
// its value came from, so `mcpauthd status` can say it.
//
// The daemon reads the settings once at start-up (and again on `mcpauthd
// restart`, which starts a fresh process); a CLI command reads them before it
// starts a daemon, so a broken file is reported to the user at once instead of
// ending up in a log.
//
// The file holds no secret: every value is a name, an address or a URL.
package settings

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/mcpauthd/mcpauthd/internal/loopback"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// FileName is the settings file's name inside the config directory.
const FileName = "config.toml"

// Where a value came from.
const (
	FromDefault = "default"
	FromFile    = "file"
	FromEnv     = "env"
)

// A Setting is one key with its effective value.
type Setting struct {
	Key    string // the key in the settings file
	Env    string // the environment variable that overrides it
	Value  string // effective value ("" = unset)
	Source string // FromDefault, FromFile or FromEnv
	Doc    string // one line for humans
}

// def describes one setting. check validates a non-empty value and returns
// it normalised.
type def struct {
	key, env, value, doc string
	check                func(string) (string, error)
}

// defs is the list of settings, in the order they are documented and shown.
// Add a setting here (and to the README's table, which a test compares).
var defs = []def{
	{"callback_addr", "MCPAUTH_CALLBACK_ADDR", "127.0.0.1:53682",
		"loopback address authorization servers redirect to (part of the registered redirect URI: keep it stable)", loopbackAddr},
	{"apps_addr", "MCPAUTH_APPS_ADDR", "127.0.0.1:53683",
		"loopback address of the local reverse proxy for HTTP apps", loopbackAddr},
	{"client_metadata_url", "MCPAUTH_CLIENT_METADATA_URL", "",
		"https URL of mcpauthd's Client ID Metadata Document (empty: dynamic registration)", httpsURL},
	{"secret_backend", "MCPAUTH_SECRET_BACKEND", "keyring",
		"where the data key sealing your tokens lives: keyring (the OS keyring) or file (0600 file beside the registry)", oneOf("keyring", "file")},
	{"log_level", "MCPAUTH_LOG_LEVEL", "info",
		"debug, info, warn or error (no level logs a token, code or secret)", oneOf("debug", "info", "warn", "error")},
	{"browser", "BROWSER", "",
		"command that opens sign-in pages, given one argument (empty: the OS opener)", command},
	{"allow_private_networks", "MCPAUTH_ALLOW_PRIVATE_NETWORKS", "false",
		"true lets servers and their authorization servers be on private, link-local or CGNAT addresses (a company network); off, a hostile server cannot turn mcpauthd into a probe of your network", boolean},
	{"proxy", "MCPAUTH_PROXY", "off",
		"environment sends requests to servers through the proxy of HTTPS_PROXY / HTTP_PROXY (NO_PROXY exempts hosts); off connects directly, so a proxy variable set by another program cannot reroute token traffic", oneOf("off", "environment")},
	{"forwarded", "MCPAUTH_FORWARDED", "full",
		"what connections from elsewhere (an ssh -R forward, an SSH login, a container) may do: full, or read-only (tokens yes; sign-in, sign-out, apps, import, stop no)", oneOf("full", "read-only")},
	{"idp_issuer", "MCPAUTH_IDP_ISSUER", "",
		"the company identity provider's issuer URL for `login URL --enterprise` (https; http only on loopback)", issuerURL},
	{"idp_client_id", "MCPAUTH_IDP_CLIENT_ID", "",
		"mcpauthd's client id at that identity provider", command},
	{"idp_client_secret_file", "MCPAUTH_IDP_CLIENT_SECRET_FILE", "",
		"file holding mcpauthd's client secret there (only for a confidential client)", command},
	{"approval", "MCPAUTH_APPROVAL", "off",
		"off: every program of yours gets tokens; ask: a program's first request for a server waits until you allow it (tray, web page, mcpauthd approve)", oneOf("off", "ask")},
	{"approval_timeout", "MCPAUTH_APPROVAL_TIMEOUT", "2m",
		"how long a request waits for your decision with approval = ask before it fails naming mcpauthd approve ID (a Go duration from 5s to 30m, e.g. 90s)", durationIn("5s", "30m")},
	{"deny_tools", "MCPAUTH_DENY_TOOLS", "",
		"comma-separated tool patterns ('*' is a wildcard, case is ignored) that both proxies hide and refuse on every server, on top of each server's own policy (mcpauthd tools URL)", toolPatterns},
}

// Settings are the effective settings. The zero value is not useful: use
// Load or Defaults.
type Settings struct {
	File string    // the settings file that was looked for
	List []Setting // every setting, in documented order
}

// Get returns the effective value of key ("" if unset or unknown).
func (s *Settings) Get(key string) string {
	for _, v := range s.List {
		if v.Key == key {
			return v.Value
		}
	}
	return ""
}

// CallbackAddr, AppsAddr, … are the typed accessors the daemon uses.
func (s *Settings) CallbackAddr() string      { return s.Get("callback_addr") }
func (s *Settings) AppsAddr() string          { return s.Get("apps_addr") }
func (s *Settings) ClientMetadataURL() string { return s.Get("client_metadata_url") }
func (s *Settings) SecretBackend() string     { return s.Get("secret_backend") }
func (s *Settings) Browser() string           { return s.Get("browser") }

// IdPIssuer, IdPClientID and IdPClientSecretFile are the company sign-in
// a managed fleet ships: the defaults of `login URL --enterprise`.
func (s *Settings) IdPIssuer() string           { return s.Get("idp_issuer") }
func (s *Settings) IdPClientID() string         { return s.Get("idp_client_id") }
func (s *Settings) IdPClientSecretFile() string { return s.Get("idp_client_secret_file") }

// ApprovalTimeout is the approval_timeout setting (validated by Load:
// from 5s, time to switch to the tray, to 30m, so that no app's request
// hangs for good).
func (s *Settings) ApprovalTimeout() time.Duration {
	d, _ := time.ParseDuration(s.Get("approval_timeout"))
	return d
}

// ForwardedReadOnly is the forwarded setting: connections from elsewhere
// are read-only.
func (s *Settings) ForwardedReadOnly() bool { return s.Get("forwarded") == "read-only" }

// AllowPrivateNetworks is the allow_private_networks setting.
func (s *Settings) AllowPrivateNetworks() bool { return s.Get("allow_private_networks") == "true" }

// DenyTools is the deny_tools setting: the tool patterns refused on every
// server (validated by Load).
func (s *Settings) DenyTools() []string {
	l, _ := toolpolicy.ParseList(s.Get("deny_tools"))
	return l
}

// Proxy is the proxy setting in the form oauth.HTTPOptions.Proxy takes:
// http.ProxyFromEnvironment for "environment", nil (connect directly,
// whatever the environment says) for "off".
func (s *Settings) Proxy() func(*http.Request) (*url.URL, error) {
	return ProxyFor(s.Get("proxy"))
}

// ProxyFor is [Settings.Proxy] for a value of the proxy setting as a
// daemon reports it (the stdio proxy follows the daemon's setting).
func ProxyFor(value string) func(*http.Request) (*url.URL, error) {
	if value == "environment" {
		return http.ProxyFromEnvironment
	}
	return nil
}

// LogLevel is the log_level setting as a slog level.
func (s *Settings) LogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s.Get("log_level"))) // validated by Load
	return l
}

// Defaults returns the embedded defaults alone.
func Defaults() *Settings {
	s := &Settings{}
	for _, d := range defs {
		s.List = append(s.List, Setting{Key: d.key, Env: d.env, Value: d.value, Source: FromDefault, Doc: d.doc})
	}
	return s
}

// Load reads file (a missing file is fine: the defaults apply) and then
// the environment through getenv. An unknown key, a value of the wrong type
// or a bad value is an error naming the file, the line and the key; a bad
// environment value is an error naming the variable. Load never changes the
// file.
func Load(file string, getenv func(string) string) (*Settings, error) {
	s := Defaults()
	s.File = file
	data, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("settings file %s: %w", file, err)
	default:
		if err := s.fromFile(file, data); err != nil {
			return nil, err
		}
	}
	for i, d := range defs {
		v := getenv(d.env)
		if v == "" {
			continue
		}
		v, err := check(d, v)
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", d.env, err)
		}
		s.List[i].Value, s.List[i].Source = v, FromEnv
	}
	return s, nil
}

func (s *Settings) fromFile(file string, data []byte) error {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("settings file %s, line %d: %s", file, pe.Position.Line, pe.Message)
		}
		return fmt.Errorf("settings file %s: %w", file, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // one error, the same every time
	for _, k := range keys {
		i := index(k)
		at := fmt.Sprintf("settings file %s, line %d, key %q", file, lineOf(data, k), k)
		if i < 0 {
			return fmt.Errorf("%s: unknown setting (known: %s)", at, strings.Join(Keys(), ", "))
		}
		str, ok := raw[k].(string)
		if b, isBool := raw[k].(bool); isBool && defs[i].value == "false" {
			str, ok = fmt.Sprint(b), true // a boolean setting takes true/false bare
		}
		if !ok {
			return fmt.Errorf("%s: want a string in quotes, got a TOML %s", at, tomlType(raw[k]))
		}
		v, err := check(defs[i], str)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		s.List[i].Value, s.List[i].Source = v, FromFile
	}
	return nil
}

// check validates v for d; an empty value means "unset" and is always
// accepted.
func check(d def, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" || d.check == nil {
		return v, nil
	}
	return d.check(v)
}

// Keys lists the known settings keys in documented order.
func Keys() []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.key
	}
	return out
}

func index(key string) int {
	for i, d := range defs {
		if d.key == key {
			return i
		}
	}
	return -1
}

// lineOf finds the line that sets key at the top level (the file is small;
// BurntSushi/toml does not report where a key was defined). 0 if not found.
func lineOf(data []byte, key string) int {
	re := regexp.MustCompile(`^\s*(` + regexp.QuoteMeta(key) + `|"` + regexp.QuoteMeta(key) + `"|'` + regexp.QuoteMeta(key) + `')\s*[=.]`)
	table := regexp.MustCompile(`^\s*\[+\s*(` + regexp.QuoteMeta(key) + `)\s*[\].]`)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if re.Match(sc.Bytes()) || table.Match(sc.Bytes()) {
			return n
		}
	}
	return 0
}

func tomlType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "table"
	case []any, []map[string]any:
		return "array"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "float"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// loopbackAddr accepts host:port with a loopback IP or "localhost" and a
// port in 0..65535 (0 picks a free port at each start: fine for tests, but
// the callback address is part of the registered redirect URI, so a real
// setup keeps a fixed port).
func loopbackAddr(v string) (string, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port (for example 127.0.0.1:53682)", v)
	}
	if !loopback.Host(host) {
		return "", fmt.Errorf("%q is not a loopback address: mcpauthd listens only on 127.0.0.1, ::1 or localhost", v)
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p < 0 || p > 65535 || fmt.Sprint(p) != port {
		return "", fmt.Errorf("%q: the port must be a number from 0 to 65535", v)
	}
	return v, nil
}

// issuerURL accepts an https URL, or http on a loopback host (a test
// IdP), without a fragment, query or credentials.
func issuerURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Fragment != "" || u.RawQuery != "" || u.User != nil ||
		!(u.Scheme == "https" || (u.Scheme == "http" && loopback.Host(u.Hostname()))) {
		return "", fmt.Errorf("%q is not an https issuer URL (without query or fragment)", v)
	}
	return v, nil
}

func httpsURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not an https URL without a fragment", v)
	}
	return v, nil
}

// boolean accepts true/false (and 1/0, yes/no, on/off, as environment
// variables often say), normalised to "true" or "false".
func boolean(v string) (string, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return "true", nil
	case "false", "0", "no", "off":
		return "false", nil
	}
	return "", fmt.Errorf("%q: want true or false", v)
}

func oneOf(allowed ...string) func(string) (string, error) {
	return func(v string) (string, error) {
		l := strings.ToLower(v)
		for _, a := range allowed {
			if l == a {
				return a, nil
			}
		}
		return "", fmt.Errorf("%q: want one of %s", v, strings.Join(allowed, ", "))
	}
}

// durationIn accepts a Go duration ("90s", "2m", "1m30s") from lo to hi
// (themselves durations).
func durationIn(lo, hi string) func(string) (string, error) {
	from, _ := time.ParseDuration(lo)
	to, _ := time.ParseDuration(hi)
	return func(v string) (string, error) {
		d, err := time.ParseDuration(v)
		if err != nil {
			return "", fmt.Errorf("%q is not a duration: write it as 90s, 2m or 1m30s", v)
		}
		if d < from || d > to {
			return "", fmt.Errorf("%q is out of range: want from %s to %s", v, lo, hi)
		}
		return v, nil
	}
}

// toolPatterns accepts a comma-separated list of tool patterns
// (toolpolicy's syntax), normalised to "a, b".
func toolPatterns(v string) (string, error) {
	l, err := toolpolicy.ParseList(v)
	if err != nil {
		return "", err
	}
	return strings.Join(l, ", "), nil
}

// command accepts a program name or path (run without a shell; $BROWSER's
// historical "a:b" list picks the first). Control characters are refused.
func command(v string) (string, error) {
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%q: a program name or path cannot hold control characters", v)
		}
	}
	return v, nil
}
