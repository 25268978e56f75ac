package revproxy

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

const (
	hdr4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	hdr6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
)

// Lines as a little-endian kernel prints them.
const (
	// 127.0.0.1:53683 listening, uid 1000.
	lineListen = "   0: 0100007F:D1B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41234 1 0000000000000000 100 0 0 10 0\n"
	// 127.0.0.1:41000 -> 127.0.0.1:53683 established, uid 1001.
	lineConn = "   1: 0100007F:A028 0100007F:D1B3 01 00000000:00000000 00:00000000 00000000  1001        0 41300 1 0000000000000000 20 4 30 10 -1\n"
	// The same 4-tuple in time-wait: uid 0, inode 0.
	lineTimeWait = "   2: 0100007F:A028 0100007F:D1B3 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n"
	// ::ffff:127.0.0.1:41002 -> ::ffff:127.0.0.1:53683 (a dual-stack client), uid 1002.
	lineMapped = "   0: 0000000000000000FFFF00000100007F:A02A 0000000000000000FFFF00000100007F:D1B3 01 00000000:00000000 00:00000000 00000000  1002        0 41400 1 0000000000000000 20 4 30 10 -1\n"
	// [::1]:41003 -> [::1]:53683, uid 1003.
	lineV6 = "   1: 00000000000000000000000001000000:A02B 00000000000000000000000001000000:D1B3 01 00000000:00000000 00:00000000 00000000  1003        0 41500 1 0000000000000000 20 4 30 10 -1\n"
	// 0.0.0.0:53684 listening, uid 1004.
	lineWildcard = "   3: 00000000:D1B4 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1004        0 41600 1 0000000000000000 100 0 0 10 0\n"
)

func TestParseTCPLine(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name  string
		line  string
		order binary.ByteOrder
		want  tcpEntry
	}{
		{"listen v4", lineListen, binary.LittleEndian, tcpEntry{ap("127.0.0.1:53683"), ap("0.0.0.0:0"), tcpListen, 1000, 41234}},
		{"established v4", lineConn, binary.LittleEndian, tcpEntry{ap("127.0.0.1:41000"), ap("127.0.0.1:53683"), 1, 1001, 41300}},
		{"time-wait", lineTimeWait, binary.LittleEndian, tcpEntry{ap("127.0.0.1:41000"), ap("127.0.0.1:53683"), tcpTimeWait, 0, 0}},
		{"v4-mapped v6 is unmapped", lineMapped, binary.LittleEndian, tcpEntry{ap("127.0.0.1:41002"), ap("127.0.0.1:53683"), 1, 1002, 41400}},
		{"v6 loopback", lineV6, binary.LittleEndian, tcpEntry{ap("[::1]:41003"), ap("[::1]:53683"), 1, 1003, 41500}},
		{"big-endian kernel", "0: 7F000001:D1B3 00000000:0000 0A 0:0 0:0 0 7 0 9\n", binary.BigEndian, tcpEntry{ap("127.0.0.1:53683"), ap("0.0.0.0:0"), tcpListen, 7, 9}},
		{"big-endian v6", "0: 00000000000000000000000000000001:0050 00000000000000000000000000000000:0000 0A 0:0 0:0 0 7 0 9\n", binary.BigEndian, tcpEntry{ap("[::1]:80"), ap("[::]:0"), tcpListen, 7, 9}},
		{"uid at the top of its range", "0: 0100007F:0001 0100007F:0002 01 0:0 0:0 0 4294967295 0 1\n", binary.LittleEndian, tcpEntry{ap("127.0.0.1:1"), ap("127.0.0.1:2"), 1, 4294967295, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTCPLine(tc.line, tc.order)
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseTCPLineMalformed(t *testing.T) {
	for _, line := range []string{
		"",
		"0: 0100007F:D1B3", // too few fields
		"0 0100007F:D1B3 00000000:0000 0A 0:0 0:0 0 7 0 9",                         // sl without ':'
		"0: 0100007F-D1B3 00000000:0000 0A 0:0 0:0 0 7 0 9",                        // no ':' in the address
		"0: 100007F:D1B3 00000000:0000 0A 0:0 0:0 0 7 0 9",                         // 7 hex digits
		"0: 0100007F0:D1B3 00000000:0000 0A 0:0 0:0 0 7 0 9",                       // 9 hex digits
		"0: 0100007G:D1B3 00000000:0000 0A 0:0 0:0 0 7 0 9",                        // not hex
		"0: 0100007F:D1B 00000000:0000 0A 0:0 0:0 0 7 0 9",                         // 3-digit port
		"0: 0100007F:D1BZ 00000000:0000 0A 0:0 0:0 0 7 0 9",                        // port not hex
		"0: +100007F:D1B3 00000000:0000 0A 0:0 0:0 0 7 0 9",                        // a sign
		"0: 0100007F:D1B3 00000000:0000 A 0:0 0:0 0 7 0 9",                         // one-digit state
		"0: 0100007F:D1B3 00000000:0000 0A 0:0 0:0 0 -7 0 9",                       // negative uid
		"0: 0100007F:D1B3 00000000:0000 0A 0:0 0:0 0 4294967296 0 9",               // uid over 32 bits
		"0: 0100007F:D1B3 00000000:0000 0A 0:0 0:0 0 1e3 0 9",                      // uid not decimal
		"0: 0100007F:D1B3 00000000:0000 0A 0:0 0:0 0 7 0 x",                        // inode not decimal
		"0: 0000000000000000FFFF00000100007:A02A 00000000:0000 01 0:0 0:0 0 7 0 9", // 31 digits
	} {
		if e, err := parseTCPLine(line, binary.LittleEndian); err == nil {
			t.Errorf("%q parsed as %+v; want an error", line, e)
		}
	}
}

func TestScanProcNetTCP(t *testing.T) {
	var n int
	err := scanProcNetTCP(strings.NewReader(hdr4+lineListen+lineConn+"\n"+lineTimeWait), binary.LittleEndian, func(tcpEntry) bool { n++; return true })
	if err != nil || n != 3 {
		t.Fatalf("%d entries, %v; want 3", n, err)
	}
	n = 0
	err = scanProcNetTCP(strings.NewReader(hdr4+lineListen+lineConn), binary.LittleEndian, func(tcpEntry) bool { n++; return false })
	if err != nil || n != 1 {
		t.Fatalf("stopping: %d entries, %v; want 1", n, err)
	}
	if err := scanProcNetTCP(strings.NewReader(lineListen+lineConn), binary.LittleEndian, func(tcpEntry) bool { return true }); err == nil {
		t.Fatal("no header line: no error")
	}
	if err := scanProcNetTCP(strings.NewReader(hdr4+lineListen+"garbage\n"), binary.LittleEndian, func(tcpEntry) bool { return true }); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("a bad line: %v; want an error naming line 3", err)
	}
}

// TestFindUID: the peer's socket is the one whose local address is the
// accepted connection's remote one; time-wait entries (uid 0) never match;
// dual-stack clients are found in tcp6; listeners on the wildcard address
// count as holding the port.
func TestFindUID(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the fixtures are little-endian")
	}
	dir := t.TempDir()
	tcp, tcp6 := filepath.Join(dir, "tcp"), filepath.Join(dir, "tcp6")
	must(t, os.WriteFile(tcp, []byte(hdr4+lineTimeWait+lineListen+lineConn+lineWildcard), 0o600))
	must(t, os.WriteFile(tcp6, []byte(hdr6+lineMapped+lineV6), 0o600))
	files := []string{tcp, filepath.Join(dir, "absent"), tcp6}
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name  string
		match func(tcpEntry) bool
		want  int
	}{
		{"v4 peer", connOf(ap("127.0.0.1:53683"), ap("127.0.0.1:41000")), 1001},
		{"v4-mapped accepted connection", connOf(ap("[::ffff:127.0.0.1]:53683"), ap("[::ffff:127.0.0.1]:41000")), 1001},
		{"dual-stack peer in tcp6", connOf(ap("127.0.0.1:53683"), ap("127.0.0.1:41002")), 1002},
		{"v6 peer", connOf(ap("[::1]:53683"), ap("[::1]:41003")), 1003},
		{"not our own end", connOf(ap("127.0.0.1:41000"), ap("127.0.0.1:53683")), -1},
		{"unknown port", connOf(ap("127.0.0.1:53683"), ap("127.0.0.1:41009")), -1},
		{"listener", listenerOn(ap("127.0.0.1:53683")), 1000},
		{"wildcard listener", listenerOn(ap("127.0.0.1:53684")), 1004},
		{"no listener", listenerOn(ap("127.0.0.1:41000")), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid, err := findUID(files, tc.match)
			if uid != tc.want || (tc.want == -1) != (err != nil) {
				t.Fatalf("uid %d, %v; want %d", uid, err, tc.want)
			}
		})
	}
	// Only a time-wait entry for the tuple: not found, not uid 0.
	must(t, os.WriteFile(tcp, []byte(hdr4+lineTimeWait), 0o600))
	if uid, err := findUID([]string{tcp}, connOf(ap("127.0.0.1:53683"), ap("127.0.0.1:41000"))); err == nil {
		t.Fatalf("time-wait entry matched: uid %d", uid)
	}
	// A table that does not parse is an error, not "not found".
	must(t, os.WriteFile(tcp, []byte(hdr4+"0: zz\n"), 0o600))
	if _, err := findUID([]string{tcp}, listenerOn(ap("127.0.0.1:53683"))); err == nil || err == errNoSocket {
		t.Fatalf("malformed table: %v", err)
	}
}

// TestPeerUIDLive: on this kernel, a loopback connection's peer is found
// as this process's uid, over IPv4, IPv6 and a dual-stack socket, and a
// listener as its holder.
func TestPeerUIDLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the uid is looked up on Linux only")
	}
	for _, tc := range []struct{ listen, dial string }{
		{"127.0.0.1:0", "127.0.0.1"},
		{"[::1]:0", "::1"},
		{"[::]:0", "127.0.0.1"}, // a dual-stack listener: the connection's addresses are IPv4-mapped
	} {
		l, err := net.Listen("tcp", tc.listen)
		if err != nil {
			t.Logf("%s: %v (no IPv6 here?)", tc.listen, err)
			continue
		}
		c, err := net.Dial("tcp", net.JoinHostPort(tc.dial, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
		must(t, err)
		s, err := l.Accept()
		must(t, err)
		uid, err := peerUID(s)
		if err != nil || uid != os.Getuid() {
			t.Errorf("%s: peer uid %d, %v; want %d", tc.listen, uid, err, os.Getuid())
		}
		holder, err := holderUID(l.Addr().(*net.TCPAddr).AddrPort())
		if err != nil || holder != os.Getuid() {
			t.Errorf("%s: listener uid %d, %v; want %d", tc.listen, holder, err, os.Getuid())
		}
		c.Close()
		s.Close()
		l.Close()
	}
}

// FuzzParseTCPLine: no input panics, and whatever parses has addresses of
// one family and never a mapped one.
func FuzzParseTCPLine(f *testing.F) {
	for _, l := range []string{lineListen, lineConn, lineTimeWait, lineMapped, lineV6, lineWildcard, "0: 0:0 0:0 0 0 0 0 0 0"} {
		f.Add(strings.TrimSpace(l))
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := parseTCPLine(line, binary.LittleEndian)
		if err != nil {
			return
		}
		if !e.local.IsValid() || !e.remote.IsValid() || e.local.Addr().Is4In6() || e.remote.Addr().Is4In6() {
			t.Fatalf("%q parsed as %+v", line, e)
		}
		_ = scanProcNetTCP(strings.NewReader(hdr4+line), binary.LittleEndian, func(got tcpEntry) bool {
			if got != e {
				t.Fatalf("scan gave %+v, parse %+v", got, e)
			}
			return true
		})
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPeerUID: the per-connection cost of finding the peer's uid on
// this machine (it grows with the number of TCP sockets listed).
func BenchmarkPeerUID(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("the uid is looked up on Linux only")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if _, err := peerUID(s); err != nil {
			b.Fatal(err)
		}
	}
}
