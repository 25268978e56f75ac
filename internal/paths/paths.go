// Package paths says where mcpauthd keeps things. On Linux and the BSDs it
// follows the XDG base directories, so a test (or a user) can move all state
// with environment variables alone; macOS and Windows use their own homes.
package paths

import (
	"os"
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
	Runtime string // socket directory (XDG_RUNTIME_DIR/mcpauthd)
	Socket  string // $MCPAUTH_SOCK, else Runtime/mcpauthd.sock
}

// DB is the registry database file.
func (p Paths) DB() string { return filepath.Join(p.Data, "registry.db") }

// ConfigFile is the optional settings file (internal/settings reads it).
func (p Paths) ConfigFile() string { return filepath.Join(p.Config, "config.toml") }

// Default computes the paths from the environment.
func Default() Paths {
	home, _ := os.UserHomeDir()
	var p Paths
	switch runtime.GOOS {
	case "darwin":
		lib := filepath.Join(home, "Library")
		p.Data = filepath.Join(lib, "Application Support", app)
		p.Config = p.Data
		p.State = filepath.Join(lib, "Logs", app)
		p.Runtime = filepath.Join(envOr("TMPDIR", os.TempDir()), app+"-"+strconv.Itoa(os.Getuid()))
	case "windows":
		local := envOr("LOCALAPPDATA", filepath.Join(home, "AppData", "Local"))
		p.Data = filepath.Join(local, app)
		p.Config = filepath.Join(envOr("APPDATA", filepath.Join(home, "AppData", "Roaming")), app)
		p.State = filepath.Join(local, app, "logs")
		p.Runtime = p.Data
	default:
		p.Data = filepath.Join(envOr("XDG_DATA_HOME", filepath.Join(home, ".local", "share")), app)
		p.Config = filepath.Join(envOr("XDG_CONFIG_HOME", filepath.Join(home, ".config")), app)
		p.State = filepath.Join(envOr("XDG_STATE_HOME", filepath.Join(home, ".local", "state")), app)
		rt := os.Getenv("XDG_RUNTIME_DIR")
		if rt == "" {
			rt = filepath.Join(os.TempDir(), app+"-"+strconv.Itoa(os.Getuid()))
			p.Runtime = rt
		} else {
			p.Runtime = filepath.Join(rt, app)
		}
	}
	p.Socket = os.Getenv("MCPAUTH_SOCK")
	if p.Socket == "" {
		p.Socket = filepath.Join(p.Runtime, app+".sock")
		if runtime.GOOS == "windows" {
			p.Socket = filepath.Join(p.Runtime, app+".sock") // AF_UNIX on Windows 10+
		}
	}
	return p
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
