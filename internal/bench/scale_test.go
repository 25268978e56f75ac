package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// populate writes n signed-in servers (one issuer, sealed tokens valid for
// hours) and audits audit hand-outs into a registry under dataHome, the way
// the daemon would have.
func populate(b *testing.B, dataHome string, n, audit int) {
	dir := filepath.Join(dataHome, "mcpauthd")
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, slog.New(slog.DiscardHandler)), MaxAudit: audit})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	issuer := "https://as.example"
	if err := st.PutRegistration(&store.Registration{Issuer: issuer, ClientID: "bench", AuthMethod: "none", Method: "dynamic"}); err != nil {
		b.Fatal(err)
	}
	exp := time.Now().Add(6 * time.Hour)
	for i := range n {
		url := fmt.Sprintf("https://mcp%d.example/mcp", i)
		md, _ := json.Marshal(&oauth.Metadata{ServerURL: url, Resource: url, Issuer: issuer, AuthServer: &oauthex.AuthServerMeta{
			Issuer: issuer, AuthorizationEndpoint: issuer + "/authorize", TokenEndpoint: issuer + "/token", CodeChallengeMethodsSupported: []string{"S256"}}})
		srv := &store.Server{URL: url, Name: "server " + strconv.Itoa(i), Issuer: issuer, Status: string(ipc.StateSignedIn), Discovery: md, TokenExpiry: exp, SignedInAt: time.Now()}
		tok := &store.Tokens{AccessToken: strings.Repeat("a", 40), RefreshToken: strings.Repeat("r", 40), TokenType: "Bearer", Expiry: exp, Obtained: time.Now()}
		if err := st.CommitLogin(srv, tok); err != nil {
			b.Fatal(err)
		}
	}
	recs := make([]store.AuditRecord, 0, 1000)
	for i := range audit {
		recs = append(recs, store.AuditRecord{Server: fmt.Sprintf("https://mcp%d.example/mcp", i%n), Action: "token", PID: 1, UID: 1})
		if len(recs) == cap(recs) || i == audit-1 {
			if err := st.AppendAudit(recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}

// procStat reads a process's resident memory (KiB) and CPU time.
func procStat(b *testing.B, pid int) (rssKiB int, cpu time.Duration) {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			rssKiB, _ = strconv.Atoi(f[1])
		}
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return rssKiB, time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// BenchmarkScale: the real daemon binary with 1,000 registered servers and
// 10,000 audit records: start-up to first answer, resident memory, list
// latency, and CPU used while idle (BENCH_IDLE seconds, default 10; the
// issue asks for 60).
func BenchmarkScale(b *testing.B) {
	const servers, audits = 1000, 10000
	dir := b.TempDir()
	bin := buildMcpauthd(b, dir)
	data := filepath.Join(dir, "data")
	populate(b, data, servers, audits)
	sock := filepath.Join(dir, "run", "mcpauthd.sock")
	env := append(os.Environ(), "MCPAUTH_SOCK="+sock, "XDG_DATA_HOME="+data, "XDG_STATE_HOME="+filepath.Join(dir, "state"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "MCPAUTH_SECRET_BACKEND=file", "MCPAUTH_CALLBACK_ADDR=127.0.0.1:0", "MCPAUTH_LOG_LEVEL=error")
	c := ipc.NewClient(sock)
	ctx := context.Background()
	var startup time.Duration
	var pid int
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "--no-tray")
		cmd.Env = env
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for {
			if s, err := c.Status(ctx); err == nil && s.Servers == servers {
				break
			}
			if time.Since(t0) > 30*time.Second {
				b.Fatal("daemon did not answer")
			}
			time.Sleep(time.Millisecond)
		}
		startup += time.Since(t0)
		pid = cmd.Process.Pid
		if i < b.N-1 {
			_ = c.Shutdown(ctx)
			_ = cmd.Wait()
		} else {
			b.Cleanup(func() { _ = c.Shutdown(ctx); _ = cmd.Wait() })
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(startup.Milliseconds())/float64(b.N), "startup-ms")
	rss, _ := procStat(b, pid)
	b.ReportMetric(float64(rss)/1024, "idle-rss-MB")

	t0 := time.Now()
	const lists = 20
	for range lists {
		if l, err := c.Servers(ctx); err != nil || len(l) != servers {
			b.Fatalf("list: %d servers, %v", len(l), err)
		}
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000/lists, "list-ms")

	idle := 10 * time.Second
	if v, err := strconv.Atoi(os.Getenv("BENCH_IDLE")); err == nil {
		idle = time.Duration(v) * time.Second
	}
	_, cpu0 := procStat(b, pid)
	time.Sleep(idle)
	rss, cpu1 := procStat(b, pid)
	b.ReportMetric(float64((cpu1 - cpu0).Milliseconds()), "idle-cpu-ms/"+strconv.Itoa(int(idle.Seconds()))+"s")
	b.ReportMetric(float64(rss)/1024, "rss-after-list-MB")
}

// peakRSS is the process's peak resident memory (VmHWM), in KiB.
func peakRSS(b *testing.B, pid int) int {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
