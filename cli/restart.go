package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/settings"
	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"restart", "", "restart the daemon (reads the settings file again)", runRestart})
}

// runRestart restarts the running daemon in place: it shuts down cleanly
// and starts again with the same arguments and environment (and pid), so a
// daemon started by systemd, launchd or autostart stays theirs, with its
// tray. The settings file is checked first: a file the new daemon would
// refuse leaves the running one alone. With no daemon running, it starts
// one as any command would.
func runRestart(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "restart", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	noEnv := func(string) string { return "" } // the daemon keeps its own environment
	if _, err := settings.Load(e.Paths.ConfigFile(), noEnv); err != nil {
		return fmt.Errorf("%w; mcpauthd was not restarted: fix the settings file first", err)
	}
	c := ipc.NewClient(e.Paths.Socket)
	old, err := c.Status(ctx)
	if ipc.IsNotRunning(err) {
		c, err := e.client(ctx)
		if err != nil {
			return err
		}
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "mcpauthd was not running; started it (pid %d).\n", st.PID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("the daemon at %s does not answer: %w", e.Paths.Socket, err)
	}
	if err := c.Restart(ctx); err != nil {
		return err
	}
	var now *ipc.Status
	if err := waitFor(ctx, 20*time.Second, func() bool {
		st, err := c.Status(ctx)
		if err == nil && st.Started.After(old.Started) {
			now = st
			return true
		}
		return false
	}); err != nil {
		return fmt.Errorf("asked mcpauthd (pid %d) to restart, but no new daemon answers on %s; see %s", old.PID, e.Paths.Socket, e.logFile())
	}
	fmt.Fprintf(e.Stdout, "Restarted mcpauthd (pid %d); settings from %s.\n", now.PID, now.SettingsFile)
	return nil
}
