package cli

import (
	"context"

	"github.com/mcpauthd/mcpauthd/internal/autostart"
)

func init() {
	register(command{"uninstall", "", "stop starting mcpauthd at login (undoes install)", runUninstall})
}

// runUninstall removes what install set up (see autostart.Uninstall); a
// running daemon keeps running.
func runUninstall(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "uninstall", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	return autostart.Uninstall(ctx, autostart.Options{Log: e.Stdout})
}
