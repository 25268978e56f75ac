package revproxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// TCP states as /proc/net/tcp prints them (include/net/tcp_states.h).
const (
	tcpTimeWait = 0x06
	tcpListen   = 0x0A
)

// tcpEntry is one socket of /proc/net/tcp or /proc/net/tcp6.
type tcpEntry struct {
	local, remote netip.AddrPort // IPv4-mapped IPv6 addresses are unmapped
	state         uint8
	uid           uint32
	inode         uint64 // 0: no process holds the socket (time-wait, orphaned)
}

// scanProcNetTCP calls fn for each socket listed in r, the text of
// /proc/net/tcp or /proc/net/tcp6, until fn returns false. order is the
// kernel's byte order, in which it prints each 32-bit word of an address
// (binary.NativeEndian for the running kernel). The header line is
// skipped; any other line that does not parse is an error naming it, so
// that a caller can refuse rather than guess.
func scanProcNetTCP(r io.Reader, order binary.ByteOrder, fn func(tcpEntry) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), 4096)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			if !strings.Contains(line, "local_address") {
				return fmt.Errorf("line 1: not the header of /proc/net/tcp")
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parseTCPLine(line, order)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if !fn(e) {
			return nil
		}
	}
	return sc.Err()
}

// parseTCPLine parses one socket line:
//
//	sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
func parseTCPLine(line string, order binary.ByteOrder) (tcpEntry, error) {
	f := strings.Fields(line)
	if len(f) < 10 || !strings.HasSuffix(f[0], ":") {
		return tcpEntry{}, fmt.Errorf("%d fields, want at least 10", len(f))
	}
	var e tcpEntry
	var err error
	if e.local, err = parseHexAddrPort(f[1], order); err != nil {
		return tcpEntry{}, fmt.Errorf("local address: %w", err)
	}
	if e.remote, err = parseHexAddrPort(f[2], order); err != nil {
		return tcpEntry{}, fmt.Errorf("remote address: %w", err)
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil || len(f[3]) != 2 {
		return tcpEntry{}, fmt.Errorf("state %q: want two hex digits", f[3])
	}
	e.state = uint8(st)
	uid, err := strconv.ParseUint(f[7], 10, 32)
	if err != nil {
		return tcpEntry{}, fmt.Errorf("uid %q: want a decimal number", f[7])
	}
	e.uid = uint32(uid)
	if e.inode, err = strconv.ParseUint(f[9], 10, 64); err != nil {
		return tcpEntry{}, fmt.Errorf("inode %q: want a decimal number", f[9])
	}
	return e, nil
}

// parseHexAddrPort parses ADDR:PORT as the kernel prints it: ADDR is 8
// (IPv4) or 32 (IPv6) hex digits, 32-bit words each printed in the
// kernel's byte order; PORT is 4 hex digits, most significant first.
func parseHexAddrPort(s string, order binary.ByteOrder) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(p) != 4 || (len(a) != 8 && len(a) != 32) {
		return netip.AddrPort{}, fmt.Errorf("%q: want 8 or 32 hex digits, ':', 4 hex digits", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: %w", p, err)
	}
	b := make([]byte, len(a)/2)
	for i := 0; i < len(a); i += 8 {
		w, err := strconv.ParseUint(a[i:i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("address %q: %w", a, err)
		}
		order.PutUint32(b[i/2:], uint32(w))
	}
	ip, _ := netip.AddrFromSlice(b) // 4 or 16 bytes: cannot fail
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// errNoSocket: no socket in the tables matched.
var errNoSocket = errors.New("no such socket in /proc/net/tcp or /proc/net/tcp6")

// findUID returns the uid of the first socket in files (texts of
// /proc/net/tcp and /proc/net/tcp6) that match accepts. A file that does
// not exist is skipped (a kernel without IPv6); one that cannot be read or
// parsed is an error.
func findUID(files []string, match func(tcpEntry) bool) (int, error) {
	for _, name := range files {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return -1, err
		}
		uid, found := -1, false
		err = scanProcNetTCP(f, binary.NativeEndian, func(e tcpEntry) bool {
			if match(e) {
				uid, found = int(e.uid), true
			}
			return !found
		})
		f.Close()
		if err != nil {
			return -1, fmt.Errorf("%s: %w", name, err)
		}
		if found {
			return uid, nil
		}
	}
	return -1, errNoSocket
}

// connOf is the peer's socket of a connection this process accepted, with
// local and remote as the accepted connection reports them: its local
// address is the connection's remote one and the other way round. Sockets
// no process holds (time-wait, orphaned: listed with inode 0 and, for
// time-wait, uid 0) never match.
func connOf(local, remote netip.AddrPort) func(tcpEntry) bool {
	local, remote = unmap(local), unmap(remote)
	return func(e tcpEntry) bool {
		return e.local == remote && e.remote == local && e.state != tcpTimeWait && e.inode != 0
	}
}

// listenerOn matches a listening socket that keeps addr from being bound:
// one on addr itself, or on its port at the wildcard address.
func listenerOn(addr netip.AddrPort) func(tcpEntry) bool {
	addr = unmap(addr)
	return func(e tcpEntry) bool {
		return e.state == tcpListen && e.local.Port() == addr.Port() &&
			(e.local.Addr() == addr.Addr() || e.local.Addr().IsUnspecified())
	}
}

func unmap(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }
