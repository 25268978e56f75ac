package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"status", "", "show the daemon's state, listeners and settings", runStatus})
}

// runStatus prints the daemon's pid, listeners, secret backend (checked:
// this may wait a few seconds on a locked keyring) and every setting with
// where its value came from.
func runStatus(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "status", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	s, err := c.StatusCheckSecrets(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "mcpauthd %s, pid %d, up %s\n", s.Version, s.PID, time.Since(s.Started).Round(time.Second))
	fmt.Fprintf(e.Stdout, "  socket:    %s\n  callback:  %s\n  apps:      %s\n  servers:   %d\n", s.Socket, s.CallbackURL, appsStatus(s), s.Servers)
	fmt.Fprintf(e.Stdout, "  network:   %s\n", proxyStatus(s))
	backend := "keyring"
	for _, v := range s.Settings {
		if v.Key == "secret_backend" {
			backend = v.Value
		}
	}
	switch {
	case !s.SecretsChecked:
		fmt.Fprintf(e.Stdout, "  secrets:   %s (not checked: daemon too old)\n", backend)
	case s.SecretsError != "":
		fmt.Fprintf(e.Stdout, "  secrets:   %s: NOT WORKING: %s\n", backend, s.SecretsError)
	default:
		fmt.Fprintf(e.Stdout, "  secrets:   %s: working\n", backend)
	}
	if len(s.Settings) == 0 {
		return nil
	}
	fmt.Fprintf(e.Stdout, "\nSettings (file %s):\n", s.SettingsFile)
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	for _, v := range s.Settings {
		val := v.Value
		if val == "" {
			val = "(none)"
		}
		from := v.Source
		if from == "env" {
			from = "env " + v.Env
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Key, val, from)
	}
	return tw.Flush()
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

// proxyStatus says how the daemon reaches servers: directly, or through
// the proxy its environment names (proxy = "environment").
func proxyStatus(s *ipc.Status) string {
	switch {
	case s.Proxy != "":
		return "through the proxy " + s.Proxy + " (proxy = environment; NO_PROXY hosts and loopback go direct)"
	case s.Setting("proxy") == "environment":
		return "direct (proxy = environment, but the daemon's environment names no proxy for https)"
	}
	return "direct (HTTPS_PROXY and HTTP_PROXY are ignored: see the proxy setting)"
}
