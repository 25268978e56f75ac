package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/stdiopoll"
)

// BenchmarkProcessHop measures what one more process between an app and
// its server costs on this machine before any relaying is done: a byte
// written to a child's standard input and read back from its standard
// output, the child having waited idle for idle first (as a relay waits on
// its server between a call and its answer). Two children: cat (no Go
// runtime) and a Go program with the proxy's runtime set-up (one
// processor, standard input through the poller), which echoes as cat does.
// A relay pays two such hand-overs a call (the app's line, the server's
// answer), so the round trip here is about the least any stdio bridge
// adds (docs/benchmarks.md, "The hop for a plain newline-JSON client").
//
//	go test -run '^$' -bench ProcessHop -benchtime 2000x -count 3 ./internal/bench
func BenchmarkProcessHop(b *testing.B) {
	children := []struct {
		name string
		cmd  func() *exec.Cmd
	}{
		{"cat", func() *exec.Cmd { return exec.Command("cat") }},
		{"go", func() *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHopChild$")
			cmd.Env = append(os.Environ(), "BENCH_HOP_CHILD=1")
			return cmd
		}},
	}
	for _, child := range children {
		for _, idle := range []time.Duration{0, 3500 * time.Microsecond} {
			b.Run(fmt.Sprintf("%s/idle=%v", child.name, idle), func(b *testing.B) {
				cmd := child.cmd()
				in, out := startPipes(b, cmd)
				defer func() { in.Close(); _ = cmd.Wait() }()
				buf := make([]byte, 1)
				var rtt []time.Duration
				for b.Loop() {
					time.Sleep(idle)
					t := time.Now()
					if _, err := in.Write([]byte{'x'}); err != nil {
						b.Fatal(err)
					}
					if _, err := out.Read(buf); err != nil {
						b.Fatal(err)
					}
					rtt = append(rtt, time.Since(t))
				}
				slices.Sort(rtt)
				b.ReportMetric(float64(rtt[len(rtt)/2].Nanoseconds())/1e3, "p50-µs")
				b.ReportMetric(float64(rtt[len(rtt)*9/10].Nanoseconds())/1e3, "p90-µs")
			})
		}
	}
}

// TestHopChild is BenchmarkProcessHop's Go child: it echoes its standard
// input to its standard output, run as mcpauthd proxy runs.
func TestHopChild(t *testing.T) {
	if os.Getenv("BENCH_HOP_CHILD") == "" {
		t.Skip("the child of BenchmarkProcessHop")
	}
	runtime.GOMAXPROCS(1)
	in := stdiopoll.Open(os.Stdin)
	buf := make([]byte, 512)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, err := os.Stdout.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
