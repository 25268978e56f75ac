package ipc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// containerRuntimes are the process names (comm, 15 bytes at most) of
// container runtimes and their per-container supervisors.
var containerRuntimes = map[string]bool{
	"containerd-shim": true, "conmon": true, "runc": true, "crun": true, "podman": true,
	"docker": true, "dockerd": true, "rootlesskit": true, "lxc-start": true, "bwrap": true,
}

func origin(pid int) string {
	if pid <= 0 {
		return ""
	}
	proc := "/proc/" + strconv.Itoa(pid)
	if comm(pid) == "ssh" {
		return fmt.Sprintf("%s: forwarded by the OpenSSH client (ssh pid %d)", ViaSSH, pid)
	}
	ns := ""
	for _, kind := range []string{"user", "pid"} {
		theirs, err1 := os.Readlink(proc + "/ns/" + kind)
		ours, err2 := os.Readlink("/proc/self/ns/" + kind)
		if err1 == nil && err2 == nil && theirs != ours {
			ns = kind
			break
		}
	}
	// Walk up the parents: the first sshd or container runtime names the
	// origin.
	p := pid
	for range 64 {
		c := comm(p)
		switch {
		case c == "sshd" || c == "sshd-session":
			if ns == "" {
				return fmt.Sprintf("%s: a process of an SSH login (sshd pid %d)", ViaSSH, p)
			}
		case containerRuntimes[c] || strings.HasPrefix(c, "containerd-shim"):
			return fmt.Sprintf("%s: under %s (pid %d), peer pid %d", ViaContainer, c, p, pid)
		}
		pp := ppid(p)
		if pp <= 1 {
			break
		}
		p = pp
	}
	if ns != "" {
		return fmt.Sprintf("%s: peer pid %d is in another %s namespace", ViaContainer, pid, ns)
	}
	return ""
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// ppid reads the parent pid from /proc/PID/stat ("pid (comm) state ppid …";
// comm may hold spaces and parentheses, so it is skipped to the last ')').
func ppid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}
