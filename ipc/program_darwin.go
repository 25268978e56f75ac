package ipc

import (
	"bytes"
	"net"

	"golang.org/x/sys/unix"
)

// identify on macOS: the peer's pid from LOCAL_PEERPID, its executable
// from the kern.procargs2 sysctl (the path it was started from; what
// proc_pidpath reports for an unchanged binary), parent and start time
// from kern.proc.pid. Compiled, not exercised by CI. What macOS cannot
// tell here: the app bundle's display name (the binary's name is shown);
// a pid reused between connect and accept is not detected (no pidfd); an
// interpreter running many scripts is one program.
func identify(_ net.Conn, p *Peer, self string) {
	if p.PID <= 0 {
		return
	}
	info, err := readProc(p.PID)
	if err != nil {
		return
	}
	p.Exe = info.exe
	p.Program, p.ProgramPID = walk(p.PID, info, self, readProc)
}

func running(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

func readProc(pid int) (procInfo, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return procInfo{}, err
	}
	raw, err := unix.SysctlRaw("kern.procargs2", pid)
	if err != nil {
		return procInfo{}, err
	}
	// argc (4 bytes), then the executable path, NUL-terminated.
	exe := ""
	if len(raw) > 4 {
		if i := bytes.IndexByte(raw[4:], 0); i > 0 {
			exe = string(raw[4 : 4+i])
		}
	}
	start := uint64(kp.Proc.P_starttime.Sec)*1e6 + uint64(kp.Proc.P_starttime.Usec)
	return procInfo{exe: exe, ppid: int(kp.Eproc.Ppid), start: start}, nil
}
