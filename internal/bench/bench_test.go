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
	"maps"
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

// rounds is how many turns each side of a comparison takes (see measure).
const rounds = 10

// measure runs b.N requests of each of sides (by name), spread over clients
// goroutines, and reports each side's requests/s and p50/p99 latency, and
// each side's p50 and p99 as ratios to the "floor" side's. The sides take turns,
// rounds times, each turn b.N/rounds requests: load from elsewhere on the
// machine (it is shared) falls on every side alike, so the ratios hold
// when the absolute figures do not.
func measure(b *testing.B, clients int, sides map[string]func() error) {
	names := slices.Sorted(maps.Keys(sides))
	lat := map[string][]time.Duration{}
	busy := map[string]time.Duration{}
	per := max(b.N/(clients*rounds), 1)
	b.ResetTimer()
	for range rounds {
		for _, name := range names {
			do := sides[name]
			got := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			start := time.Now()
			for c := range clients {
				wg.Go(func() {
					mine := make([]time.Duration, 0, per)
					for range per {
						t0 := time.Now()
						if err := do(); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					got[c] = mine
				})
			}
			wg.Wait()
			busy[name] += time.Since(start)
			lat[name] = append(lat[name], slices.Concat(got...)...)
		}
	}
	b.StopTimer()
	p50, p99 := map[string]time.Duration{}, map[string]time.Duration{}
	for _, name := range names {
		all := lat[name]
		if len(all) == 0 {
			return
		}
		slices.Sort(all)
		p50[name], p99[name] = all[len(all)/2], all[len(all)*99/100]
		b.ReportMetric(float64(len(all))/busy[name].Seconds(), name+"-req/s")
		b.ReportMetric(float64(p50[name].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(p99[name].Microseconds())/1000, name+"-p99-ms")
	}
	for _, name := range names {
		if name != "floor" && p50["floor"] > 0 && p99["floor"] > 0 {
			b.ReportMetric(float64(p50[name])/float64(p50["floor"]), name+"-p50/floor")
			b.ReportMetric(float64(p99[name])/float64(p99["floor"]), name+"-p99/floor")
		}
	}
}

var levels = []int{1, 16, 64}

// BenchmarkTokenHandout: a cached token over the socket, through the peer
// check, the routing, the session and the audit record.
func BenchmarkTokenHandout(b *testing.B) {
	for _, n := range levels {
		b.Run("clients="+strconv.Itoa(n), func(b *testing.B) {
			sock, url := signedIn(b)
			c := ipc.NewClient(sock)
			f := ipc.NewClient(floorServer(b)) // same client code, constant server
			ctx := context.Background()
			measure(b, n, map[string]func() error{
				"mcpauthd": func() error { _, err := c.Token(ctx, url, 0); return err },
				"floor":    func() error { _, err := f.Token(ctx, "x", 0); return err },
			})
		})
	}
}

func runtimeCaller() (uintptr, string, int, bool) { return runtime.Caller(1) }

// buildMcpauthd builds mcpauthd as installed, the front (cmd/mcpauthd) and
// beside it the engine it hands all but token and headers to, into dir and
// returns the front: what apps run.
func buildMcpauthd(b *testing.B, dir string) string {
	build(b, "./cmd/mcpauthd-engine", dir)
	return build(b, "./cmd/mcpauthd", dir)
}

// build compiles pkg into dir, as releases are built (scripts/dist.sh,
// scripts/crossbuild.sh: static, without cgo, symbol tables stripped), and
// returns the binary.
func build(b *testing.B, pkg, dir string) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// BenchmarkTokenCommand: `mcpauthd token URL` as a whole process (what a
// headersHelper pays on every call): the front, cmd/mcpauthd, which answers
// it without the engine, beside a bare Go binary that makes the same one
// request.
func BenchmarkTokenCommand(b *testing.B) {
	sock, url := signedIn(b)
	dir := b.TempDir()
	env := append(os.Environ(), "MCPAUTH_SOCK="+sock)
	run := func(argv ...string) func() error {
		return func() error {
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = env
			out, err := cmd.Output()
			if err != nil || len(out) < 8 {
				return fmt.Errorf("%s: %v %q", argv[0], err, out)
			}
			return nil
		}
	}
	measure(b, 1, map[string]func() error{
		"mcpauthd": run(buildMcpauthd(b, dir), "token", url),
		"floor":    run(build(b, "./internal/bench/floorclient", dir), url),
	})
}
