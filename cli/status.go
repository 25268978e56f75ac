package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"status", "  show the daemon's state", runStatus})
}

func runStatus(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "status", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	s, err := c.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "mcpauthd %s, pid %d, up %s\n", s.Version, s.PID, time.Since(s.Started).Round(time.Second))
	fmt.Fprintf(e.Stdout, "  socket:    %s\n  callback:  %s\n  servers:   %d\n", s.Socket, s.CallbackURL, s.Servers)
	fmt.Fprintf(e.Stdout, "  apps:      %s\n", appsStatus(s))
	return nil
}

// appsStatus describes the reverse proxy for HTTP apps: where it listens
// and whom it lets in, or why it is off.
func appsStatus(s *ipc.Status) string {
	switch {
	case s.AppsError != "":
		return "OFF: " + s.AppsError
	case s.AppsURL == "":
		return "off"
	case s.AppsUIDChecked:
		return s.AppsURL + " (only your user's connections; other users are refused even with a key)"
	}
	return s.AppsURL + " (WARNING: this OS does not tell which user connects: anyone on this machine with an app's key gets in)"
}
