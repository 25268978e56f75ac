// Package paths says where mcpauthd keeps things. On Linux and the BSDs it
// follows the XDG base directories, so a test (or a user) can move all state
// with environment variables alone; macOS and Windows use their own homes.
//
// The socket is the exception: the daemon and its clients must agree on it
// even when one of them runs with a trimmed environment (apps start stdio
// servers with little more than HOME and PATH; systemd and launchd start the
// daemon with their own), so it is found from the uid and the home
// directory alone unless MCPAUTH_SOCK or XDG_RUNTIME_DIR says otherwise, and
// never in a directory another user could have created first.
package paths

import (
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
)

const app = "mcpauthd"

// Paths are the directories and files of one mcpauthd instance.
type Paths struct {
	Data    string // registry database (XDG_DATA_HOME/mcpauthd)
	Config  string // settings file config.toml, optional (XDG_CONFIG_HOME/mcpauthd)
	State   string // logs (XDG_STATE_HOME/mcpauthd)
	Runtime string // socket directory (see socketDir)
	Socket  string // $MCPAUTH_SOCK, else Runtime/mcpauthd.sock
}

// DB is the registry database file.
func (p Paths) DB() string { return filepath.Join(p.Data, "registry.db") }

// ConfigFile is the optional settings file (internal/settings reads it).
func (p Paths) ConfigFile() string { return filepath.Join(p.Config, "config.toml") }

// system is what Default reads: the environment, the OS, the uid and the
// root of the per-user runtime directories (/run/user), so tests can vary
// each.
type system struct {
	getenv  func(string) string
	goos    string
	uid     int
	home    string
	runUser string
}

// Default computes the paths from the environment.
func Default() Paths {
	return compute(system{getenv: os.Getenv, goos: runtime.GOOS, uid: os.Getuid(), home: homeDir(), runUser: "/run/user"})
}

// homeDir is $HOME, else the home directory the user database gives the uid
// (a daemon or app started without HOME still finds the same socket).
func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return h
	}
	if u, err := user.Current(); err == nil {
		return u.HomeDir
	}
	return ""
}

func compute(s system) Paths {
	envOr := func(k, def string) string {
		if v := s.getenv(k); v != "" {
			return v
		}
		return def
	}
	var p Paths
	switch s.goos {
	case "darwin":
		lib := filepath.Join(s.home, "Library")
		p.Data = filepath.Join(lib, "Application Support", app)
		p.Config = p.Data
		p.State = filepath.Join(lib, "Logs", app)
	case "windows":
		local := envOr("LOCALAPPDATA", filepath.Join(s.home, "AppData", "Local"))
		p.Data = filepath.Join(local, app)
		p.Config = filepath.Join(envOr("APPDATA", filepath.Join(s.home, "AppData", "Roaming")), app)
		p.State = filepath.Join(local, app, "logs")
	default:
		p.Data = filepath.Join(envOr("XDG_DATA_HOME", filepath.Join(s.home, ".local", "share")), app)
		p.Config = filepath.Join(envOr("XDG_CONFIG_HOME", filepath.Join(s.home, ".config")), app)
		p.State = filepath.Join(envOr("XDG_STATE_HOME", filepath.Join(s.home, ".local", "state")), app)
	}
	p.Runtime = socketDir(s, p)
	p.Socket = s.getenv("MCPAUTH_SOCK")
	if p.Socket == "" {
		p.Socket = filepath.Join(p.Runtime, app+".sock")
	}
	return p
}

// socketDir is the directory of the default socket, the first of:
//
//   - $XDG_RUNTIME_DIR/mcpauthd (Linux and the BSDs; an absolute path only,
//     as the XDG spec asks);
//   - /run/user/UID/mcpauthd when /run/user/UID is a directory (not a
//     symbolic link) owned by the uid and not writable by group or others:
//     what systemd-logind gives every session, so a daemon started with
//     XDG_RUNTIME_DIR and a client started without it agree;
//   - a directory under the home directory, never a shared one such as /tmp
//     that another user could create first: Linux and the BSDs
//     ~/.local/state/mcpauthd/run (fixed: not XDG_STATE_HOME, which trimmed
//     environments drop), macOS ~/Library/Application Support/mcpauthd/run.
//
// Windows keeps the socket in %LOCALAPPDATA%\mcpauthd, whose ACL admits the
// user (and SYSTEM and administrators) only.
func socketDir(s system, p Paths) string {
	switch s.goos {
	case "windows":
		return p.Data
	case "darwin":
		return filepath.Join(s.home, "Library", "Application Support", app, "run")
	}
	if rt := s.getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(rt) {
		return filepath.Join(rt, app)
	}
	rt := filepath.Join(s.runUser, strconv.Itoa(s.uid))
	if fi, err := os.Lstat(rt); err == nil && fi.IsDir() && fi.Mode().Perm()&0o022 == 0 {
		if owner, ok := owner(fi); ok && owner == s.uid {
			return filepath.Join(rt, app)
		}
	}
	return filepath.Join(s.home, ".local", "state", app, "run")
}
