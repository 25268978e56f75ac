package e2e

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// netnsMode marks the test process run again inside a private network
// namespace by inNetns.
const netnsMode = "MCPAUTHD_E2E_NETNS"

// Addresses inNetns puts on the namespace's loopback interface: a private
// (RFC 1918) address and the cloud metadata service's link-local address,
// which a test can listen on to see whether anything connects, without
// touching a real network.
const (
	nsPrivate   = "10.0.0.1"
	nsLinkLocal = "169.254.169.254"
	// nsRebound is a public-looking name that resolves, inside the
	// namespace, to nsPrivate (as a DNS rebinding attack would make it).
	nsRebound = "rebound.example.com"
)

// inNetns runs the calling test again, alone, inside a private network
// namespace (unshare --net, as root) whose loopback interface also carries
// nsPrivate and nsLinkLocal, and a private mount namespace whose /etc/hosts
// also maps nsRebound to nsPrivate. It returns true in that run, and false
// in the calling one after the run in the namespace passed (its output is
// logged).
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsMode) == "1" {
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			{"addr", "add", nsPrivate + "/32", "dev", "lo"},
			{"addr", "add", nsLinkLocal + "/32", "dev", "lo"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %v: %v\n%s", args, err, out)
			}
		}
		hosts, _ := os.ReadFile("/etc/hosts")
		mine := filepath.Join(t.TempDir(), "hosts")
		if err := os.WriteFile(mine, append(hosts, []byte("\n"+nsPrivate+" "+nsRebound+"\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "--bind", mine, "/etc/hosts").CombinedOutput(); err != nil {
			t.Fatalf("mount --bind %s /etc/hosts: %v\n%s", mine, err, out)
		}
		return true
	}
	_, errU := exec.LookPath("unshare")
	_, errI := exec.LookPath("ip")
	need(t, os.Geteuid() == 0 && errU == nil && errI == nil, "root, unshare and ip (a private network namespace)")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--net", "--mount", "--", self, "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), netnsMode+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a private network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed in the private network namespace: %v", err)
	}
	return false
}

// witness is a listener that must stay untouched: it counts every
// connection accepted and every request read, and the header values seen.
type witness struct {
	url   string
	conns atomic.Int32
	mu    sync.Mutex
	reqs  []*http.Request
}

// newWitness listens on host (a port of its own; 80 when port80).
func newWitness(t *testing.T, host string, port80 bool) *witness {
	t.Helper()
	port := "0"
	if port80 {
		port = "80"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		t.Fatal(err)
	}
	w := &witness{url: "http://" + l.Addr().String()}
	if port80 {
		w.url = "http://" + host
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			w.mu.Lock()
			w.reqs = append(w.reqs, r)
			w.mu.Unlock()
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				w.conns.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return w
}

// reset forgets what w saw, for the next subtest.
func (w *witness) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conns.Store(0)
	w.reqs = nil
}

// untouched fails the test if anything connected to w.
func (w *witness) untouched(t *testing.T, what string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.conns.Load(); n != 0 || len(w.reqs) != 0 {
		t.Errorf("%s: %d connection(s) and %d request(s) reached %s", what, n, len(w.reqs), w.url)
		for _, r := range w.reqs {
			t.Errorf("  %s %s (headers %v)", r.Method, r.URL, r.Header)
		}
	}
}
