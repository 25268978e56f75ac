// Package bench measures mcpauthd against floors measured in the same run.
// It is run by scripts/bench.sh (go test -bench), never by the test suite's
// assertions: nothing here asserts a time.
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/bench
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/ipc/ipcserver"
	"github.com/mcpauthd/mcpauthd/store"
)

// serveDaemon starts an in-process daemon with a throwaway registry (the
// file secret backend) and cfg, signs it in to url with r, and serves its
// API on a Unix socket. It returns the daemon and the socket path.
func serveDaemon(b *testing.B, cfg daemon.Config, r *ipc.LoginRequest) (*daemon.Daemon, string) {
	dir := b.TempDir()
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, slog.New(slog.DiscardHandler))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg.Store = st
	d, err := daemon.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if cfg.OpenBrowser != nil {
		cl, err := net.Listen("tcp", cfg.CallbackAddr)
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: d.Handler()}
		go func() { _ = srv.Serve(cl) }()
		b.Cleanup(func() { srv.Close() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Login(ctx, r); err != nil {
		b.Fatal(err)
	}
	sock := filepath.Join(dir, "mcpauthd.sock")
	l, err := ipc.Listen(sock)
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	b.Cleanup(stop)
	go func() { _ = ipcserver.New(d, slog.New(slog.DiscardHandler), func(bool) { stop() }).Serve(sctx, l) }()
	return d, sock
}

// signedIn serves a daemon signed in to a fake server (device grant: no
// browser). It returns the socket path and the server URL.
func signedIn(b *testing.B) (sock, url string) {
	as := testfake.NewDeviceAS(b)
	url = as.Srv.URL + "/mcp"
	_, sock = serveDaemon(b, daemon.Config{CallbackAddr: "127.0.0.1:1"}, &ipc.LoginRequest{URL: url, NoBrowser: true, Wait: true})
	return sock, url
}

// floorServer is the floor for token hand-out: a bare Go HTTP server on a
// Unix socket that returns a constant JSON token.
func floorServer(b *testing.B) string {
	sock := filepath.Join(b.TempDir(), "floor.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"access_token":"` + strings.Repeat("x", 36) + `","token_type":"Bearer","expiry":"2099-01-01T00:00:00Z"}` + "\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { srv.Close() })
	return sock
}

// measure runs b.N requests spread over clients goroutines and reports
// requests/s and the p50/p99 latency.
func measure(b *testing.B, clients int, do func() error) {
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	per := max(b.N/clients, 1)
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, per)
			for range per {
				t0 := time.Now()
				if err := do(); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat[c] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

var levels = []int{1, 16, 64}

// BenchmarkTokenHandout: a cached token over the socket, through the peer
// check, the routing, the session and the audit record.
func BenchmarkTokenHandout(b *testing.B) {
	for _, n := range levels {
		b.Run("mcpauthd/clients="+strconv.Itoa(n), func(b *testing.B) {
			sock, url := signedIn(b)
			c := ipc.NewClient(sock)
			ctx := context.Background()
			measure(b, n, func() error { _, err := c.Token(ctx, url, 0); return err })
		})
		b.Run("floor/clients="+strconv.Itoa(n), func(b *testing.B) {
			sock := floorServer(b)
			c := ipc.NewClient(sock) // same client code, constant server
			ctx := context.Background()
			measure(b, n, func() error { _, err := c.Token(ctx, "x", 0); return err })
		})
	}
}

func runtimeCaller() (uintptr, string, int, bool) { return runtime.Caller(1) }

// build compiles pkg into dir and returns the binary.
func build(b *testing.B, pkg, dir string) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// BenchmarkTokenCommand: `mcpauthd token URL` as a whole process (what a
// headersHelper pays on every call), beside a bare Go binary that makes the
// same one request.
func BenchmarkTokenCommand(b *testing.B) {
	sock, url := signedIn(b)
	dir := b.TempDir()
	for _, bin := range []string{build(b, "./cmd/mcpauthd", dir), build(b, "./internal/bench/floorclient", dir)} {
		name := "mcpauthd"
		args := []string{"token", url}
		if strings.HasSuffix(bin, "floorclient") {
			name, args = "floor", []string{url}
		}
		b.Run(name, func(b *testing.B) {
			env := append(os.Environ(), "MCPAUTH_SOCK="+sock)
			measure(b, 1, func() error {
				cmd := exec.Command(bin, args...)
				cmd.Env = env
				out, err := cmd.Output()
				if err != nil || len(out) < 8 {
					return fmt.Errorf("%s: %v %q", name, err, out)
				}
				return nil
			})
		})
	}
}
