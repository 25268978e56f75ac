package autostart

import (
	"context"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mcpauthd/mcpauthd/internal/paths"
)

// agent returns the agent's plist path and its launchd domain and service
// target (gui/UID, gui/UID/Label).
func agent() (plist, domain, service string, err error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", "", err
	}
	domain = "gui/" + strconv.Itoa(os.Getuid())
	return filepath.Join(home, "Library", "LaunchAgents", Label+".plist"), domain, domain + "/" + Label, nil
}

// Install makes mcpauthd start at login through a launchd agent
// (~/Library/LaunchAgents/io.github.mcpauthd.plist), loaded now with
// `launchctl bootstrap`. Its output goes to ~/Library/Logs/mcpauthd.
// Running it again changes nothing.
func Install(ctx context.Context, o Options) error {
	plist, domain, service, err := agent()
	if err != nil {
		return err
	}
	logDir := paths.Default().State
	content, err := Render(LaunchAgent, Data{Exe: o.Exe, LogFile: filepath.Join(logDir, "mcpauthd.log")})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return err
	}
	changed, err := o.writeFile(plist, content)
	if err != nil {
		return err
	}
	loaded := probe(ctx, "launchctl", "print", service) == nil
	if loaded && changed {
		if err := o.run(ctx, "launchctl", "bootout", service); err != nil {
			return err
		}
		loaded = false
	}
	if !loaded {
		if err := o.run(ctx, "launchctl", "bootstrap", domain, plist); err != nil {
			return err
		}
	}
	o.logf("mcpauthd starts at login (launchd agent %s)", Label)
	return nil
}

// Uninstall unloads the agent (`launchctl bootout`) and removes its plist. It
// leaves a daemon that something else started running.
func Uninstall(ctx context.Context, o Options) error {
	plist, _, service, err := agent()
	if err != nil {
		return err
	}
	if probe(ctx, "launchctl", "print", service) == nil {
		if err := o.run(ctx, "launchctl", "bootout", service); err != nil {
			return err
		}
	}
	removed, err := o.removeFile(plist)
	if err != nil {
		return err
	}
	if !removed {
		o.logf("mcpauthd was not set up to start at login")
	}
	return nil
}
