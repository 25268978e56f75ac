package cli

import (
	"context"
)

func init() {
	register(command{"headers", "URL [--account NAME] [--method M --url U]", "print {\"Authorization\":\"Bearer …\"} (Claude Code headersHelper); DPoP-bound tokens need --method/--url and add \"DPoP\"", runHeaders})
}

// runHeaders prints the HTTP headers that authorize a request to URL, as
// JSON. For a DPoP-bound token (RFC 9449) they are valid for one request
// only: --method and --url name it, and the answer is
// {"Authorization":"DPoP …","DPoP":"<proof>"}; without them it fails with
// an explanation, because a bare DPoP token would be refused. The front
// (cmd/mcpauthd) does the same when the daemon answers (tokencmd).
func runHeaders(ctx context.Context, e *Env, args []string) error {
	return runTokenCommand(ctx, e, "headers", "URL [--method M --url U [--nonce N]] [--min-valid DURATION]", args)
}
