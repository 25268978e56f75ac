package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/spf13/pflag"
)

func init() {
	register(command{"token", "URL [--account NAME] [--format raw|header|json] [--min-valid D]", "print an access token (json says token_type Bearer or DPoP)", runToken})
}

func runToken(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "token", "URL [--account NAME] [--format raw|header|json] [--min-valid DURATION]")
	format := fs.String("format", "raw", "raw (the token), header (Authorization: Bearer …) or json (with token_type: Bearer or DPoP)")
	minValid := fs.Duration("min-valid", 0, "refresh first unless the token stays valid this long (default 30s)")
	account := accountFlag(fs)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	switch *format {
	case "raw", "header", "json":
	default:
		return &ExitError{Code: 2, Err: fmt.Errorf("--format %q: want raw, header or json", *format)}
	}
	tok, err := fetchToken(ctx, e, pos[0], *account, *minValid, nil)
	if err != nil {
		return err
	}
	switch *format {
	case "raw":
		if tok.dpop() {
			fmt.Fprintf(e.Stderr, "mcpauthd: note: this token is DPoP-bound: it works only as \"Authorization: DPoP\" with a proof signed by mcpauthd for each request (mcpauthd proxy, or mcpauthd headers %s --method M --url U)\n", pos[0])
		}
		fmt.Fprintln(e.Stdout, tok.AccessToken)
	case "header":
		if tok.dpop() {
			return errDPoPBound(pos[0], "a header without a proof")
		}
		if tok.AccessToken != "" {
			fmt.Fprintf(e.Stdout, "Authorization: Bearer %s\n", tok.AccessToken)
		}
	case "json":
		return json.NewEncoder(e.Stdout).Encode(tok)
	}
	return nil
}

type tokenOut struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type,omitempty"` // Bearer, or DPoP for a DPoP-bound token
	Expiry      time.Time `json:"expiry,omitzero"`
	ExpiresIn   int64     `json:"expires_in,omitempty"`
	Scopes      []string  `json:"scopes,omitempty"`
	// DPoPKeyThumbprint is the bound key's RFC 7638 thumbprint (public).
	DPoPKeyThumbprint string `json:"dpop_jkt,omitempty"`
	// DPoPProof is the proof for the request asked about (headers --method --url).
	DPoPProof string `json:"-"`
}

// dpop reports whether the token is DPoP-bound (RFC 9449).
func (t *tokenOut) dpop() bool { return t.TokenType == ipc.TokenTypeDPoP }

// errDPoPBound is the error for using a DPoP-bound token of url as what:
// it cannot work without a per-request proof, which only the daemon signs.
func errDPoPBound(url, what string) error {
	return fmt.Errorf("the tokens of %s are DPoP-bound (RFC 9449): every request needs a proof signed with a key only mcpauthd holds, so %s would be refused.\n"+
		"Connect the app through `mcpauthd proxy %s` (or the local reverse proxy), or print the headers for one request with\n"+
		"  mcpauthd headers %s --method POST --url <request URL>", url, what, url, url)
}

// accountFlag is --account, for the commands that get a token of one of a
// server's accounts.
func accountFlag(fs *pflag.FlagSet) *string {
	return fs.String("account", "", "the server's account (sign-in) to use, as named at `mcpauthd login URL --account NAME` (default: the server's default account)")
}

// fetchToken asks the daemon for url's token of account ("": the daemon
// chooses: the default), with dpop for a proof for that request; "sign in
// first" becomes exit status 3 with the command to run.
func fetchToken(ctx context.Context, e *Env, url, account string, minValid time.Duration, dpop *ipc.DPoPRequest) (*tokenOut, error) {
	var t *ipc.TokenResponse
	err := e.do(ctx, func(c *ipc.Client) (err error) {
		t, err = c.TokenFor(ctx, &ipc.TokenRequest{URL: url, Account: account, MinValid: ipc.Duration(minValid), DPoP: dpop})
		return err
	})
	if err != nil {
		if needsSignIn(err) {
			return nil, &ExitError{Code: 3, Err: err}
		}
		return nil, err
	}
	if t.Warning != "" {
		fmt.Fprintln(e.Stderr, "mcpauthd: warning:", t.Warning)
	}
	out := &tokenOut{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.Expiry, Scopes: t.Scopes,
		DPoPKeyThumbprint: t.DPoPKeyThumbprint, DPoPProof: t.DPoPProof}
	if !t.Expiry.IsZero() {
		out.ExpiresIn = int64(time.Until(t.Expiry).Seconds())
	}
	return out, nil
}
