package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"stop", "", "stop the daemon", runStop})
}

// runStop asks the running daemon to shut down and waits until its socket
// no longer answers. Nothing running is not an error.
func runStop(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "stop", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	c := ipc.NewClient(e.Paths.Socket)
	st, err := c.Status(ctx)
	if ipc.IsNotRunning(err) {
		fmt.Fprintf(e.Stdout, "mcpauthd is not running (socket %s)\n", e.Paths.Socket)
		return nil
	}
	if err != nil {
		return fmt.Errorf("the daemon at %s does not answer: %w", e.Paths.Socket, err)
	}
	if err := c.Shutdown(ctx); err != nil {
		return err
	}
	if err := waitFor(ctx, 10*time.Second, func() bool {
		_, err := c.Status(ctx)
		return ipc.IsNotRunning(err)
	}); err != nil {
		return fmt.Errorf("asked mcpauthd (pid %d) to stop, but it still answers on %s", st.PID, e.Paths.Socket)
	}
	fmt.Fprintf(e.Stdout, "Stopped mcpauthd (pid %d).\n", st.PID)
	return nil
}

// waitFor polls done every 50 ms until it is true, ctx ends or limit passes.
func waitFor(ctx context.Context, limit time.Duration, done func() bool) error {
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
