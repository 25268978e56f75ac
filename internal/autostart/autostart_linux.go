package autostart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/mcpauthd/mcpauthd/internal/paths"
)

// The target the unit is WantedBy (packaging/mcpauthd.service).
const sessionTargetName = "graphical-session.target"

type linuxFiles struct {
	unit, wants, entry string // the user unit, its enablement link, the autostart entry
	dirs               []string
}

// files says where the unit and the entry go: under XDG_CONFIG_HOME
// (default ~/.config), the directory internal/paths uses for the config.
func files() linuxFiles {
	cfg := filepath.Dir(paths.Default().Config)
	user := filepath.Join(cfg, "systemd", "user")
	wantsDir := filepath.Join(user, sessionTargetName+".wants")
	auto := filepath.Join(cfg, "autostart")
	return linuxFiles{
		unit:  filepath.Join(user, SystemdUnit),
		wants: filepath.Join(wantsDir, SystemdUnit),
		entry: filepath.Join(auto, "mcpauthd.desktop"),
		dirs:  []string{wantsDir, user, filepath.Dir(user), auto},
	}
}

// sessionSystemd returns nil when a user systemd is reachable and runs the
// graphical session (graphical-session.target is active), else why not.
func sessionSystemd(ctx context.Context) error {
	if _, err := exec.LookPath("systemctl"); err != nil {
		return errors.New("systemctl is not installed")
	}
	if err := probe(ctx, "systemctl", "--user", "show-environment"); err != nil {
		return fmt.Errorf("no user systemd is reachable: %w", err)
	}
	if err := probe(ctx, "systemctl", "--user", "is-active", "--quiet", sessionTargetName); err != nil {
		return fmt.Errorf("the user systemd runs no graphical session (%s is not active)", sessionTargetName)
	}
	return nil
}

// Install makes mcpauthd start with the user's graphical session: through
// the systemd user unit ($XDG_CONFIG_HOME/systemd/user/mcpauthd.service,
// enabled and started now) where the user's systemd runs the graphical
// session, else through the XDG autostart entry
// ($XDG_CONFIG_HOME/autostart/mcpauthd.desktop, from the next login). It
// removes the other one, so that a login starts one daemon. Running it again
// changes nothing.
func Install(ctx context.Context, o Options) error {
	f := files()
	why := sessionSystemd(ctx)
	if why == nil {
		unit, err := Render(SystemdUnit, Data{Exe: o.Exe})
		if err != nil {
			return err
		}
		changed, err := o.writeFile(f.unit, unit)
		if err != nil {
			return err
		}
		if _, err := o.removeFile(f.entry); err != nil {
			return err
		}
		pruneDirs(f.dirs...)
		if changed {
			if err := o.run(ctx, "systemctl", "--user", "daemon-reload"); err != nil {
				return err
			}
		}
		if err := o.run(ctx, "systemctl", "--user", "enable", "--now", SystemdUnit); err != nil {
			return err
		}
		o.logf("mcpauthd starts with your graphical session (systemd user unit %s)", SystemdUnit)
		return nil
	}
	entry, err := Render(AutostartEntry, Data{Exe: o.Exe})
	if err != nil {
		return err
	}
	if _, err := o.writeFile(f.entry, entry); err != nil {
		return err
	}
	// A unit from an earlier install would start a second daemon.
	if err := f.removeUnit(o); err != nil {
		return err
	}
	o.logf("%v: mcpauthd starts at your next desktop login (XDG autostart entry)", why)
	return nil
}

// Uninstall undoes Install: it stops and disables the unit (through
// systemctl when a user systemd is reachable), removes the unit and the
// autostart entry, and the directories that held only them. It leaves a
// daemon that something else started running.
func Uninstall(ctx context.Context, o Options) error {
	f := files()
	found := false
	if _, err := os.Stat(f.unit); err == nil {
		found = true
		reachable := probe(ctx, "systemctl", "--user", "show-environment") == nil
		if reachable {
			if err := o.run(ctx, "systemctl", "--user", "disable", "--now", SystemdUnit); err != nil {
				return err
			}
		}
		if err := f.removeUnit(o); err != nil {
			return err
		}
		if reachable {
			if err := o.run(ctx, "systemctl", "--user", "daemon-reload"); err != nil {
				return err
			}
		}
	}
	removed, err := o.removeFile(f.entry)
	if err != nil {
		return err
	}
	pruneDirs(f.dirs...)
	if !found && !removed {
		o.logf("mcpauthd was not set up to start at login")
	}
	return nil
}

// removeUnit removes the unit file and its enablement link (what
// `systemctl --user disable` removes, for when systemctl cannot run).
func (f linuxFiles) removeUnit(o Options) error {
	for _, p := range []string{f.wants, f.unit} {
		if _, err := o.removeFile(p); err != nil {
			return err
		}
	}
	pruneDirs(f.dirs...)
	return nil
}

// pruneDirs removes each directory, in order, if it is empty.
func pruneDirs(dirs ...string) {
	for _, d := range dirs {
		_ = os.Remove(d) // fails, harmlessly, when not empty or absent
	}
}
