package cli

import (
	"context"
	"fmt"
	"time"
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
	return nil
}
