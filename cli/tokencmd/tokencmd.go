// Package tokencmd is what `mcpauthd token` and `mcpauthd headers` do
// around their one request to the daemon: their flags, the request they
// make, and what they print for the answer. It is their one implementation,
// shared by the engine's command line (package cli) and by the fast front
// (cmd/mcpauthd), which must print byte for byte what the engine prints. The
// front links it, so it imports only light packages (ipc, pflag): nothing
// that would make every headersHelper call pay package initialisers.
package tokencmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/spf13/pflag"
)

// Command is one parsed `mcpauthd token` or `mcpauthd headers`: Define its
// flags on a flag set, parse it, then Check.
type Command struct {
	name     string
	format   *string // token
	method   *string // headers
	target   *string // headers
	nonce    *string // headers
	account  *string
	minValid *time.Duration
}

// Define defines the flags of the command name ("token" or "headers") on fs
// and returns the command they fill when fs is parsed.
func Define(name string, fs *pflag.FlagSet) *Command {
	c := &Command{name: name}
	switch name {
	case "token":
		c.format = fs.String("format", "raw", "raw (the token), header (Authorization: Bearer …) or json (with token_type: Bearer or DPoP)")
		c.minValid = fs.Duration("min-valid", 0, "refresh first unless the token stays valid this long (default 30s)")
	case "headers":
		c.minValid = fs.Duration("min-valid", 0, "refresh first unless the token stays valid this long (default 30s)")
		c.method = fs.String("method", "", "the HTTP method of the request the headers are for (DPoP-bound tokens)")
		c.target = fs.String("url", "", "the URL of the request the headers are for (DPoP-bound tokens; same origin as URL)")
		c.nonce = fs.String("nonce", "", "the server's last DPoP-Nonce, when it demands one (with --method and --url)")
	default:
		panic("tokencmd: no command " + name)
	}
	c.account = AccountFlag(fs)
	return c
}

// AccountFlag is --account, for the commands that get a token of one of a
// server's accounts.
func AccountFlag(fs *pflag.FlagSet) *string {
	return fs.String("account", "", "the server's account (sign-in) to use, as named at `mcpauthd login URL --account NAME` (default: the server's default account)")
}

// Check reports a combination of parsed flags the command refuses: a usage
// error (exit status 2).
func (c *Command) Check() error {
	switch c.name {
	case "token":
		switch *c.format {
		case "raw", "header", "json":
		default:
			return fmt.Errorf("--format %q: want raw, header or json", *c.format)
		}
	case "headers":
		if (*c.method == "") != (*c.target == "") || (*c.nonce != "" && *c.method == "") {
			return errors.New("--method and --url go together (and --nonce needs them)")
		}
	}
	return nil
}

// Request is the request to the daemon for the server url.
func (c *Command) Request(url string) *ipc.TokenRequest {
	r := &ipc.TokenRequest{URL: url, Account: *c.account, MinValid: ipc.Duration(*c.minValid)}
	if c.method != nil && *c.method != "" {
		r.DPoP = &ipc.DPoPRequest{Method: *c.method, URL: *c.target, Nonce: *c.nonce}
	}
	return r
}

// ExitCode is the exit status of a command whose request the daemon
// refused with err: 3 when the user must sign in first (ipc.ErrNeedsSignIn),
// which scripts tell apart, 1 otherwise.
func ExitCode(err error) int {
	if errors.Is(err, ipc.ErrNeedsSignIn) {
		return 3
	}
	return 1
}

// Output is what a command prints for one answer of the daemon.
type Output struct {
	Stdout, Stderr []byte
	// Err is the command's failure (exit status 1); Stdout is then empty.
	Err error
}

// Write writes o.Stderr to stderr, then o.Stdout to stdout, and returns
// o.Err, else the first write error.
func (o *Output) Write(stdout, stderr io.Writer) error {
	if len(o.Stderr) > 0 {
		if _, err := stderr.Write(o.Stderr); err != nil && o.Err == nil {
			return err
		}
	}
	if o.Err != nil {
		return o.Err
	}
	_, err := stdout.Write(o.Stdout)
	return err
}

// Output is what the command for url prints for the daemon's answer t, at
// now (json's expires_in counts from it).
func (c *Command) Output(url string, t *ipc.TokenResponse, now time.Time) *Output {
	var out, errOut bytes.Buffer
	if t.Warning != "" {
		fmt.Fprintln(&errOut, "mcpauthd: warning:", t.Warning)
	}
	fail := func(err error) *Output { return &Output{Stderr: errOut.Bytes(), Err: err} }
	dpop := t.TokenType == ipc.TokenTypeDPoP
	switch {
	case c.name == "headers":
		h := map[string]string{}
		switch {
		case t.AccessToken == "":
		case !dpop:
			h["Authorization"] = "Bearer " + t.AccessToken
		case t.DPoPProof == "":
			return fail(DPoPBound(url, "headers without a proof for the request (--method and --url)"))
		default:
			h["Authorization"] = "DPoP " + t.AccessToken
			h["DPoP"] = t.DPoPProof
		}
		if err := json.NewEncoder(&out).Encode(h); err != nil {
			return fail(err)
		}
	case *c.format == "raw":
		if dpop {
			fmt.Fprintf(&errOut, "mcpauthd: note: this token is DPoP-bound: it works only as \"Authorization: DPoP\" with a proof signed by mcpauthd for each request (mcpauthd proxy, or mcpauthd headers %s --method M --url U)\n", url)
		}
		fmt.Fprintln(&out, t.AccessToken)
	case *c.format == "header":
		if dpop {
			return fail(DPoPBound(url, "a header without a proof"))
		}
		if t.AccessToken != "" {
			fmt.Fprintf(&out, "Authorization: Bearer %s\n", t.AccessToken)
		}
	case *c.format == "json":
		j := tokenJSON{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.Expiry, Scopes: t.Scopes, DPoPKeyThumbprint: t.DPoPKeyThumbprint}
		if !t.Expiry.IsZero() {
			j.ExpiresIn = int64(t.Expiry.Sub(now).Seconds())
		}
		if err := json.NewEncoder(&out).Encode(j); err != nil {
			return fail(err)
		}
	}
	return &Output{Stdout: out.Bytes(), Stderr: errOut.Bytes()}
}

// tokenJSON is `mcpauthd token --format json`.
type tokenJSON struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type,omitempty"` // Bearer, or DPoP for a DPoP-bound token
	Expiry      time.Time `json:"expiry,omitzero"`
	ExpiresIn   int64     `json:"expires_in,omitempty"`
	Scopes      []string  `json:"scopes,omitempty"`
	// DPoPKeyThumbprint is the bound key's RFC 7638 thumbprint (public).
	DPoPKeyThumbprint string `json:"dpop_jkt,omitempty"`
}

// DPoPBound is the error for using a DPoP-bound token of url as what: it
// cannot work without a per-request proof, which only the daemon signs.
func DPoPBound(url, what string) error {
	return fmt.Errorf("the tokens of %s are DPoP-bound (RFC 9449): every request needs a proof signed with a key only mcpauthd holds, so %s would be refused.\n"+
		"Connect the app through `mcpauthd proxy %s` (or the local reverse proxy), or print the headers for one request with\n"+
		"  mcpauthd headers %s --method POST --url <request URL>", url, what, url, url)
}
