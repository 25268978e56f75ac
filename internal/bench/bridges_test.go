package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(b *testing.B, port int) {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
	}
	b.Fatalf("nothing listens on %d", port)
}

// tsServer starts the official TypeScript SDK example server with OAuth.
func tsServer(b *testing.B, root string) string {
	node := filepath.Join(root, "tools/node_modules/node/bin/node")
	script := filepath.Join(root, "tools/node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js")
	mcpPort, authPort := freePort(b), freePort(b)
	cmd := exec.Command(node, script, "--oauth")
	cmd.Env = append(os.Environ(), "MCP_PORT="+strconv.Itoa(mcpPort), "MCP_AUTH_PORT="+strconv.Itoa(authPort))
	if err := cmd.Start(); err != nil {
		b.Skipf("TypeScript SDK server: %v (run scripts/install-test-deps.sh)", err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitPort(b, mcpPort)
	waitPort(b, authPort)
	return fmt.Sprintf("http://localhost:%d/mcp", mcpPort)
}

// signedInTS runs an in-process daemon signed in to url (its "browser"
// opens the sign-in's start link and follows the redirects, with the start
// link's binding cookie, to the callback) and serves its API on a socket.
func signedInTS(b *testing.B, url string) (sock, token string) {
	d, sock := serveDaemon(b, daemon.Config{
		CallbackAddr: "127.0.0.1:" + strconv.Itoa(freePort(b)),
		OpenBrowser: func(u string) error {
			jar, _ := cookiejar.New(nil)
			go func() {
				if res, err := (&http.Client{Jar: jar}).Get(u); err == nil {
					res.Body.Close()
				}
			}()
			return nil
		},
	}, &ipc.LoginRequest{URL: url, Wait: true})
	tok, err := d.Token(context.Background(), url, 0, ipc.Peer{})
	if err != nil {
		b.Fatal(err)
	}
	return sock, tok.AccessToken
}

type bearer struct{ tok string }

func (t bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.tok)
	return http.DefaultTransport.RoundTrip(r)
}

// BenchmarkBridges: one MCP client (the Go SDK's) against the TypeScript SDK
// example server, directly over HTTP, through `mcpauthd proxy`, and through
// `mcp-remote` (npm, the baseline apps use today), in one run: cold start to
// the first initialize reply, 300 sequential tools/call, 50 concurrent
// calls, the bridge's idle and peak memory and its CPU time per call.
//
//	go test -run '^$' -bench Bridges -benchtime 1x ./internal/bench
func BenchmarkBridges(b *testing.B) {
	_, file, _, _ := runtimeCaller()
	root := filepath.Join(filepath.Dir(file), "..", "..")
	url := tsServer(b, root)
	sock, token := signedInTS(b, url)
	mcpauthd := build(b, "./cmd/mcpauthd", b.TempDir())
	node := filepath.Join(root, "tools/node_modules/node/bin/node")
	mcpRemote := filepath.Join(root, "tools/node_modules/mcp-remote/dist/proxy.js")

	bridges := []struct {
		name string
		cmd  func() *exec.Cmd // nil: direct HTTP
	}{
		{"direct", nil},
		{"mcpauthd-proxy", func() *exec.Cmd {
			c := exec.Command(mcpauthd, "proxy", url)
			c.Env = append(os.Environ(), "MCPAUTH_SOCK="+sock)
			return c
		}},
		{"mcp-remote", func() *exec.Cmd {
			// mcp-remote takes a static header; this is how configs pass tokens
			// to it today (and how they end up in ps).
			c := exec.Command(node, mcpRemote, url, "--header", "Authorization: Bearer "+token)
			c.Env = append(os.Environ(), "MCP_REMOTE_CONFIG_DIR="+b.TempDir())
			return c
		}},
	}
	for _, br := range bridges {
		b.Run(br.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "0"}, nil)
			var tr mcp.Transport
			var cmd *exec.Cmd
			if br.cmd == nil {
				tr = &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{token}}}
			} else {
				cmd = br.cmd()
				tr = &mcp.CommandTransport{Command: cmd}
			}
			t0 := time.Now()
			cs, err := client.Connect(ctx, tr, nil)
			if err != nil {
				b.Fatal(err)
			}
			cold := time.Since(t0)
			defer cs.Close()
			call := func() error {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "bench"}})
				return err
			}
			var pid int
			var rssIdle int
			var cpu0 time.Duration
			if cmd != nil {
				pid = cmd.Process.Pid
				rssIdle, cpu0 = procStat(b, pid)
			}
			lat := make([]time.Duration, 0, 300)
			for range 300 {
				t := time.Now()
				if err := call(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			slices.Sort(lat)
			t1 := time.Now()
			var wg sync.WaitGroup
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := call(); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			conc := time.Since(t1)
			b.ReportMetric(float64(cold.Microseconds())/1000, "cold-start-ms")
			b.ReportMetric(float64(lat[150].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[297].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(conc.Microseconds())/1000, "50-concurrent-ms")
			if pid != 0 {
				rss, cpu1 := procStat(b, pid)
				b.ReportMetric(float64(rssIdle)/1024, "idle-rss-MB")
				b.ReportMetric(float64(peakRSS(b, pid))/1024, "peak-rss-MB")
				_ = rss
				b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/350, "cpu-ms/call")
			}
		})
	}
}
