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
	"sync/atomic"
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

// tsServer starts the official TypeScript SDK example server with OAuth
// (its own authorization server, which it asks about every request's
// token), or public: no OAuth, each call answered at once.
func tsServer(b *testing.B, root string, public bool) string {
	node := filepath.Join(root, "tools/node_modules/node/bin/node")
	script := filepath.Join(root, "tools/node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js")
	mcpPort, authPort := freePort(b), freePort(b)
	cmd := exec.Command(node, script, "--oauth")
	if public {
		cmd = exec.Command(node, script)
	}
	cmd.Env = append(os.Environ(), "MCP_PORT="+strconv.Itoa(mcpPort), "MCP_AUTH_PORT="+strconv.Itoa(authPort))
	if err := cmd.Start(); err != nil {
		b.Skipf("TypeScript SDK server: %v (run scripts/install-test-deps.sh)", err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitPort(b, mcpPort)
	if !public {
		waitPort(b, authPort)
	}
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

// bridgesRuns counts Bridges' runs in this process (-count).
var bridgesRuns atomic.Int64

// BenchmarkBridges: one MCP client (the Go SDK's) against the TypeScript SDK
// example server, directly over HTTP, through `mcpauthd proxy`, and through
// `mcp-remote` (npm, the baseline apps use today), in one run: cold start to
// the first initialize reply, 300 sequential tools/call, bursts of 50
// concurrent calls (the median of burstRuns, and the first burst), the
// bridge's idle and peak memory and its CPU time per call. The clients
// take turns call by call and burst by burst, so that load from elsewhere
// on the (shared) machine falls on them alike; each bridge's added p50 is
// over direct HTTP's in the same run.
//
//	go test -run '^$' -bench Bridges -benchtime 1x ./internal/bench
func BenchmarkBridges(b *testing.B) {
	_, file, _, _ := runtimeCaller()
	root := filepath.Join(filepath.Dir(file), "..", "..")
	url := tsServer(b, root, false)
	sock, token := signedInTS(b, url)
	mcpauthd := buildMcpauthd(b, b.TempDir())
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
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		type side struct {
			name   string
			call   func() error
			pid    int
			rssIdl int
			cpu0   time.Duration
			lat    []time.Duration
		}
		var sides []*side
		for _, br := range bridges {
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
				b.Fatal(br.name, err)
			}
			b.ReportMetric(ms(time.Since(t0)), br.name+"-cold-start-ms")
			defer cs.Close()
			s := &side{name: br.name, call: func() error {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "bench"}})
				return err
			}}
			if cmd != nil {
				s.pid = cmd.Process.Pid
				s.rssIdl, s.cpu0 = procStat(b, s.pid)
			}
			sides = append(sides, s)
		}
		for range 300 {
			for _, s := range sides {
				t := time.Now()
				if err := s.call(); err != nil {
					b.Fatal(s.name, err)
				}
				s.lat = append(s.lat, time.Since(t))
			}
		}
		// Bursts of 50 concurrent calls, the sides taking turns burst by
		// burst, each round starting with the next side, as PlainHop's.
		iteration := bridgesRuns.Add(1)
		bursts := make([][]time.Duration, len(sides))
		for round := range burstRuns {
			for k := range sides {
				i := (k + round + int(iteration)) % len(sides)
				s := sides[i]
				t1 := time.Now()
				var wg sync.WaitGroup
				for range 50 {
					wg.Go(func() {
						if err := s.call(); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				bursts[i] = append(bursts[i], time.Since(t1))
			}
		}
		for i, s := range sides {
			slices.Sort(s.lat)
			b.ReportMetric(ms(bursts[i][0]), s.name+"-50-concurrent-first-ms")
			slices.Sort(bursts[i])
			b.ReportMetric(ms(bursts[i][len(bursts[i])/2]), s.name+"-50-concurrent-ms")
			b.ReportMetric(ms(s.lat[150]), s.name+"-p50-ms")
			b.ReportMetric(ms(s.lat[297]), s.name+"-p99-ms")
			if s.pid != 0 {
				b.ReportMetric(ms(s.lat[150]-sides[0].lat[150]), s.name+"-added-p50-ms")
				_, cpu1 := procStat(b, s.pid)
				b.ReportMetric(float64(s.rssIdl)/1024, s.name+"-idle-rss-MB")
				b.ReportMetric(float64(peakRSS(b, s.pid))/1024, s.name+"-peak-rss-MB")
				b.ReportMetric(ms(cpu1-s.cpu0)/float64(300+50*burstRuns), s.name+"-cpu-ms/call")
			}
		}
		cancel()
	}
}
