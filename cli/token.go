package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

func init() {
	register(command{"token", "URL [--format raw|header|json] [--min-valid D]   print an access token", runToken})
}

func runToken(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "token", "URL [--format raw|header|json] [--min-valid DURATION]")
	format := fs.String("format", "raw", "raw (the token), header (Authorization: Bearer …) or json")
	minValid := fs.Duration("min-valid", 0, "refresh first unless the token stays valid this long (default 30s)")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	switch *format {
	case "raw", "header", "json":
	default:
		return &ExitError{Code: 2, Err: fmt.Errorf("--format %q: want raw, header or json", *format)}
	}
	tok, err := fetchToken(ctx, e, pos[0], *minValid)
	if err != nil {
		return err
	}
	switch *format {
	case "raw":
		fmt.Fprintln(e.Stdout, tok.AccessToken)
	case "header":
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
	TokenType   string    `json:"token_type,omitempty"`
	Expiry      time.Time `json:"expiry,omitzero"`
	ExpiresIn   int64     `json:"expires_in,omitempty"`
	Scopes      []string  `json:"scopes,omitempty"`
}

// fetchToken asks the daemon; "sign in first" becomes exit status 3 with the
// command to run.
func fetchToken(ctx context.Context, e *Env, url string, minValid time.Duration) (*tokenOut, error) {
	c, err := e.client(ctx)
	if err != nil {
		return nil, err
	}
	t, err := c.Token(ctx, url, minValid)
	if err != nil {
		if needsSignIn(err) {
			return nil, &ExitError{Code: 3, Err: err}
		}
		return nil, err
	}
	out := &tokenOut{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.Expiry, Scopes: t.Scopes}
	if !t.Expiry.IsZero() {
		out.ExpiresIn = int64(time.Until(t.Expiry).Seconds())
	}
	return out, nil
}
