// Package desktopentry finds the name a person knows a program by: the
// Name of the freedesktop.org desktop entry (applications/*.desktop under
// the XDG data directories) whose Exec starts that program. It reads no
// file a client chose: only the user's and the system's data directories.
package desktopentry

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ttl is how long an index of the desktop entries is used before the
// directories are read again (an app installed meanwhile gets its name).
const ttl = time.Minute

// Index maps executables to desktop entry names. The zero value is ready;
// it is safe for concurrent use.
type Index struct {
	// Dirs are the data directories searched (their applications/
	// subdirectory); nil means the XDG ones ($XDG_DATA_HOME, then
	// $XDG_DATA_DIRS). A seam for tests.
	Dirs []string

	mu     sync.Mutex
	built  time.Time
	byPath map[string]string // absolute Exec program -> Name
	byBase map[string]string // Exec program given by name (found on PATH) -> Name
}

// Name returns the display name for the executable exe: the Name of the
// first desktop entry (in XDG precedence order) whose Exec program is exe
// (by absolute path, or by base name when the entry names it without a
// path), else exe's base name. "" for "".
func (x *Index) Name(exe string) string {
	if exe == "" {
		return ""
	}
	x.mu.Lock()
	if x.byPath == nil || time.Since(x.built) > ttl {
		x.build()
	}
	n, ok := x.byPath[exe]
	if !ok {
		n, ok = x.byBase[filepath.Base(exe)]
	}
	x.mu.Unlock()
	if ok {
		return n
	}
	return filepath.Base(exe)
}

func (x *Index) dirs() []string {
	if x.Dirs != nil {
		return x.Dirs
	}
	home := os.Getenv("XDG_DATA_HOME")
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, ".local", "share")
		}
	}
	sys := os.Getenv("XDG_DATA_DIRS")
	if sys == "" {
		sys = "/usr/local/share:/usr/share"
	}
	return append([]string{home}, filepath.SplitList(sys)...)
}

// build reads every entry; x.mu is held. The first entry for a program wins.
func (x *Index) build() {
	x.byPath, x.byBase, x.built = map[string]string{}, map[string]string{}, time.Now()
	for _, d := range x.dirs() {
		if d == "" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(d, "applications", "*.desktop"))
		for _, f := range files {
			name, prog := parse(f)
			if name == "" || prog == "" {
				continue
			}
			m := x.byBase
			if filepath.IsAbs(prog) {
				m = x.byPath
				if r, err := filepath.EvalSymlinks(prog); err == nil {
					prog = r // /proc/PID/exe names the resolved file
				}
			}
			if _, ok := m[prog]; !ok {
				m[prog] = name
			}
		}
	}
}

// parse reads the [Desktop Entry] group's Name and the program of its
// Exec (the first word, quotes removed); "" for entries that are hidden.
func parse(file string) (name, prog string) {
	f, err := os.Open(file)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			if in {
				break
			}
			in = line == "[Desktop Entry]"
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Name":
			name = strings.TrimSpace(v)
		case "Exec":
			v = strings.TrimSpace(v)
			if strings.HasPrefix(v, `"`) {
				if e, _, ok := strings.Cut(v[1:], `"`); ok {
					prog = e
				}
			} else if w := strings.Fields(v); len(w) > 0 {
				prog = w[0]
			}
		case "Hidden":
			if strings.TrimSpace(v) == "true" {
				return "", ""
			}
		}
	}
	return name, prog
}
