package cli

import (
	"context"
	"encoding/json"
)

func init() {
	register(command{"headers", "URL   print {\"Authorization\":\"Bearer …\"} (Claude Code headersHelper)", runHeaders})
}

func runHeaders(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "headers", "URL")
	minValid := fs.Duration("min-valid", 0, "refresh first unless the token stays valid this long (default 30s)")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	tok, err := fetchToken(ctx, e, pos[0], *minValid)
	if err != nil {
		return err
	}
	h := map[string]string{}
	if tok.AccessToken != "" {
		h["Authorization"] = "Bearer " + tok.AccessToken
	}
	return json.NewEncoder(e.Stdout).Encode(h)
}
