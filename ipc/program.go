package ipc

import (
	"net"
	"path/filepath"
	"strings"
)

// Which program is behind a request. The socket's peer is often not the
// app a person would name: `mcpauthd proxy` is started by Claude Desktop,
// `mcpauthd token` by a shell script an editor runs. The daemon therefore
// walks from the peer up its parent chain to the first process that is
// neither mcpauthd itself nor one of passThrough, and holds that program
// responsible. Everything comes from the OS; nothing a client says (its
// User-Agent, a name in a request) is ever used.

// passThrough are the programs that only start other programs: shells and
// env. A request from one of them (or from mcpauthd) is attributed to the
// program that started it. Kept small on purpose: every name here hands
// its requests to its parent, so a program listed here could never be
// told apart from whatever runs it.
var passThrough = map[string]bool{
	"sh": true, "bash": true, "dash": true, "zsh": true, "fish": true, "ksh": true, "env": true,
}

// maxWalk bounds the parent walk: a chain of shells deeper than this is
// attributed to the last process looked at.
const maxWalk = 16

// procInfo is what the OS says about one process.
type procInfo struct {
	exe   string // absolute path of its executable; "" when unknown
	ppid  int
	start uint64 // start time in OS units, only compared with other processes' (0: unknown)
}

// IsPassThrough reports whether a request from exe is attributed to its
// parent process: exe is mcpauthd (a binary named mcpauthd, the front
// users type, or mcpauthd-engine, the program the front hands most
// commands to, or the file self names) or one of the shells in
// passThrough.
func IsPassThrough(exe, self string) bool {
	base := strings.TrimSuffix(filepath.Base(exe), ".exe")
	return base == "mcpauthd" || base == "mcpauthd-engine" || passThrough[base] || (self != "" && exe == self)
}

// Running reports whether process pid still runs (true where the OS
// cannot tell): a decision made for a running program ends with it.
func Running(pid int) bool { return running(pid) }

// Identify fills p.Program and p.ProgramPID for a connection accepted on
// c, whose peer credentials are p (PeerOf), with self the daemon's own
// executable. Program is the executable the daemon holds responsible for
// the requests on c (see IsPassThrough); "" when the OS does not say
// (then p.Exe is cleared too if it could not be confirmed). Call it when
// the connection is accepted, before the peer can exit and its pid be
// reused. What each OS can tell is in identify's doc comment per OS.
func Identify(c net.Conn, p *Peer, self string) {
	identify(c, p, self)
}

// walk climbs from pid (whose executable is info) to the first process
// that is not pass-through, guarding against reused pids: a parent must
// have started no later than its child, else the parent the child had has
// exited and its pid now names an unrelated process; the walk then stops
// at the child. read is the OS's process lookup.
func walk(pid int, info procInfo, self string, read func(int) (procInfo, error)) (string, int) {
	for range maxWalk {
		if info.exe == "" || !IsPassThrough(info.exe, self) || info.ppid <= 1 {
			break
		}
		parent, err := read(info.ppid)
		if err != nil || parent.exe == "" {
			break
		}
		if info.start != 0 && parent.start > info.start {
			break // the pid was reused: not the parent that started pid
		}
		pid, info = info.ppid, parent
	}
	return info.exe, pid
}
