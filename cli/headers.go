package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"headers", "URL [--account NAME] [--method M --url U]", "print {\"Authorization\":\"Bearer …\"} (Claude Code headersHelper); DPoP-bound tokens need --method/--url and add \"DPoP\"", runHeaders})
}

// runHeaders prints the HTTP headers that authorize a request to URL, as
// JSON. For a DPoP-bound token (RFC 9449) they are valid for one request
// only: --method and --url name it, and the answer is
// {"Authorization":"DPoP …","DPoP":"<proof>"}; without them it fails with
// an explanation, because a bare DPoP token would be refused.
func runHeaders(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "headers", "URL [--method M --url U [--nonce N]] [--min-valid DURATION]")
	minValid := fs.Duration("min-valid", 0, "refresh first unless the token stays valid this long (default 30s)")
	method := fs.String("method", "", "the HTTP method of the request the headers are for (DPoP-bound tokens)")
	target := fs.String("url", "", "the URL of the request the headers are for (DPoP-bound tokens; same origin as URL)")
	nonce := fs.String("nonce", "", "the server's last DPoP-Nonce, when it demands one (with --method and --url)")
	account := accountFlag(fs)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if (*method == "") != (*target == "") || (*nonce != "" && *method == "") {
		return &ExitError{Code: 2, Err: fmt.Errorf("--method and --url go together (and --nonce needs them)")}
	}
	var dpop *ipc.DPoPRequest
	if *method != "" {
		dpop = &ipc.DPoPRequest{Method: *method, URL: *target, Nonce: *nonce}
	}
	tok, err := fetchToken(ctx, e, pos[0], *account, *minValid, dpop)
	if err != nil {
		return err
	}
	h := map[string]string{}
	switch {
	case tok.AccessToken == "":
	case !tok.dpop():
		h["Authorization"] = "Bearer " + tok.AccessToken
	case tok.DPoPProof == "":
		return errDPoPBound(pos[0], "headers without a proof for the request (--method and --url)")
	default:
		h["Authorization"] = "DPoP " + tok.AccessToken
		h["DPoP"] = tok.DPoPProof
	}
	return json.NewEncoder(e.Stdout).Encode(h)
}
