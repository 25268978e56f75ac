package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPlainHop measures what `mcpauthd proxy` adds for a plain
// newline-JSON client (no MCP SDK on the app's side: one line written, one
// line read, as apps written in any language do), side by side, in one
// run, with the fastest direct client: plain HTTP POSTs with a keep-alive
// connection and a bearer header. Against the TypeScript SDK example
// server with OAuth: cold start to the initialize reply (the proxy's
// includes starting the process; the median of coldRuns starts, the sides
// taking turns), 200 sequential tools/call, bursts of 30 concurrent, and the
// proxy's CPU time per call and peak RSS. Calls
// alternate between the clients, so that load on the machine hits them
// alike. "floor" is internal/bench/floorrelay, the least a stdio bridge
// can do (one token asked for at start, each line POSTed as it is, each
// answer written as it comes): the cost of a process hop itself on this
// machine, which no bridge goes under. MCPAUTHD_BENCH_BASE names another
// mcpauthd binary (an older build) to measure beside this one, as "base".
//
//	go test -run '^$' -bench PlainHop -benchtime 1x -count 5 ./internal/bench
func BenchmarkPlainHop(b *testing.B) { plainHop(b, false) }

// BenchmarkPlainHopPublic is PlainHop against the same server without
// OAuth. The OAuth example server asks its authorization server about
// every request's token, 4–5 ms a call that swings by a millisecond from
// call to call; without it a call takes well under a millisecond, and the
// hop's own cost is read with far less noise around it.
//
//	go test -run '^$' -bench PlainHopPublic -benchtime 1x -count 5 ./internal/bench
func BenchmarkPlainHopPublic(b *testing.B) { plainHop(b, true) }

func plainHop(b *testing.B, public bool) {
	sequential := 200
	if n, err := strconv.Atoi(os.Getenv("PLAINHOP_CALLS")); err == nil && n > 0 {
		sequential = n // more calls for a steadier median
	}
	_, file, _, _ := runtimeCaller()
	root := strings.TrimSuffix(file, "/internal/bench/plainhop_test.go")
	url := tsServer(b, root, public)
	sock, token := signedInTS(b, url)
	dir := b.TempDir()
	mcpauthd := buildMcpauthd(b, dir)

	bins := map[string][]string{"proxy": {mcpauthd, "proxy", url}, "floor": {build(b, "./internal/bench/floorrelay", dir), url}}
	if base := os.Getenv("MCPAUTHD_BENCH_BASE"); base != "" {
		bins["base"] = []string{base, "proxy", url} // another build of mcpauthd, measured beside this one
	}
	start := func(name string) *piped {
		cmd := exec.Command(bins[name][0], bins[name][1:]...)
		cmd.Env = append(os.Environ(), "MCPAUTH_SOCK="+sock)
		return newPiped(b, name, cmd)
	}
	for b.Loop() {
		iteration := plainHopRuns.Add(1) // rotates the order of the first bursts from run to run
		// Cold starts, the sides taking turns, coldRuns times each: one
		// start is too exposed to the machine's other load to compare.
		cold := map[string][]time.Duration{}
		for range coldRuns {
			t0 := time.Now()
			d := newDirect(b, url, token)
			cold["direct"] = append(cold["direct"], time.Since(t0))
			d.hc.CloseIdleConnections()
			for _, name := range slices.Sorted(maps.Keys(bins)) {
				t0 := time.Now()
				p := start(name)
				cold[name] = append(cold[name], time.Since(t0))
				p.close()
			}
		}
		for name, c := range cold {
			slices.Sort(c)
			b.ReportMetric(ms(c[len(c)/2]), name+"-cold-ms")
			if name != "direct" {
				b.ReportMetric(float64(c[len(c)/2])/float64(cold["direct"][len(c)/2]), name+"-cold/direct")
			}
		}
		d := newDirect(b, url, token)
		lat := map[string][]time.Duration{}
		calls := map[string]func(string, string) string{"direct": d.call}
		burst := map[string]func(int, string, string){"direct": func(n int, method, params string) {
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() { d.call(method, params) })
			}
			wg.Wait()
		}}
		var pipes []*piped
		cpu0 := map[string]time.Duration{}
		for name := range bins {
			p := start(name)
			cmd := p.cmd
			calls[name], burst[name] = p.call, p.burst
			pipes = append(pipes, p)
			_, cpu0[name] = procStat(b, cmd.Process.Pid)
		}
		names := slices.Sorted(maps.Keys(calls))
		for i := range sequential {
			args := fmt.Sprintf(`{"name":"greet","arguments":{"name":"b%d"}}`, i)
			for _, name := range names {
				t := time.Now()
				calls[name]("tools/call", args)
				lat[name] = append(lat[name], time.Since(t))
			}
		}
		for _, l := range lat {
			slices.Sort(l)
		}
		// Bursts of 30 concurrent calls, the sides taking turns burst by
		// burst, each round starting with the next side (a burst leaves the
		// server with connections to close and garbage to collect, which
		// the next one meets): one burst is too exposed to the machine's
		// other load to compare. The first burst of each side dials its
		// connections.
		bursts := map[string][]time.Duration{}
		for round := range burstRuns {
			for k := range names {
				name := names[(k+round+int(iteration))%len(names)]
				t := time.Now()
				burst[name](30, "tools/call", `{"name":"greet","arguments":{"name":"c"}}`)
				bursts[name] = append(bursts[name], time.Since(t))
			}
		}
		for _, name := range names {
			bs := bursts[name]
			b.ReportMetric(ms(bs[0]), name+"-30conc-first-ms")
			slices.Sort(bs)
			b.ReportMetric(ms(bs[len(bs)/2]), name+"-30conc-ms")
			l := lat[name]
			b.ReportMetric(ms(l[len(l)/2]), name+"-p50-ms")
			b.ReportMetric(ms(l[len(l)*99/100]), name+"-p99-ms")
			if name != "direct" {
				b.ReportMetric(ms(l[len(l)/2]-lat["direct"][len(l)/2]), name+"-added-p50-ms")
			}
		}
		for _, p := range pipes {
			name := p.name
			_, cpu1 := procStat(b, p.cmd.Process.Pid)
			b.ReportMetric(ms(cpu1-cpu0[name])/float64(sequential+30*burstRuns), name+"-cpu-ms/call")
			b.ReportMetric(float64(peakRSS(b, p.cmd.Process.Pid))/1024, name+"-peak-rss-MB")
			p.close()
		}
	}
}

// plainHopRuns counts PlainHop's runs in this process (-count).
var plainHopRuns atomic.Int64

// burstRuns is how many bursts of 30 concurrent calls PlainHop makes on
// each side (the median is reported, and the first burst, which dials).
const burstRuns = 11

// coldRuns is how many cold starts of each side PlainHop takes the median of.
const coldRuns = 7

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// direct is a plain Streamable HTTP client: one keep-alive connection
// pool, the session id and protocol version headers, nothing else.
type direct struct {
	b       *testing.B
	url     string
	token   string
	hc      *http.Client
	session string
	mu      sync.Mutex
	id      int
}

func newDirect(b *testing.B, url, token string) *direct {
	d := &direct{b: b, url: url, token: token, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	d.call("initialize", `{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"plain","version":"0"}}`)
	d.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return d
}

func (d *direct) call(method, params string) string {
	d.mu.Lock()
	d.id++
	id := d.id
	d.mu.Unlock()
	return d.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, id, method, params))
}

// post sends one message and returns the JSON of the answer (from a JSON
// body or the first event of a stream); "" for a notification.
func (d *direct) post(msg string) string {
	req, _ := http.NewRequest(http.MethodPost, d.url, strings.NewReader(msg))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	if d.session != "" {
		req.Header.Set("Mcp-Session-Id", d.session)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	res, err := d.hc.Do(req)
	if err != nil {
		d.b.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode/100 != 2 {
		d.b.Fatalf("direct %s: %d %v %s", msg, res.StatusCode, err, body)
	}
	if s := res.Header.Get("Mcp-Session-Id"); s != "" {
		d.session = s
	}
	for line := range bytes.Lines(body) {
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			return string(bytes.TrimSpace(data))
		}
	}
	return string(body)
}

// piped is a plain newline-JSON app, as a script in any language writes
// one: a call writes its line and reads the proxy's stdout until the
// answer with its id, in the calling goroutine (a reader goroutine handing
// answers over a channel would add a hand-off of the benchmark's own to
// the proxy's side that the direct side does not pay). A burst writes its
// lines from concurrent goroutines and reads the answers in any order.
type piped struct {
	b    *testing.B
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	mu   sync.Mutex // writes and ids
	id   int
}

func newPiped(b *testing.B, name string, cmd *exec.Cmd) *piped {
	in, out := startPipes(b, cmd)
	p := &piped{b: b, name: name, cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<16)}
	p.call("initialize", `{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"plain","version":"0"}}`)
	p.write(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return p
}

// startPipes starts cmd with pipes to its standard input and from its
// standard output.
func startPipes(b *testing.B, cmd *exec.Cmd) (io.WriteCloser, io.ReadCloser) {
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return in, out
}

func (p *piped) write(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.b.Fatal(err)
	}
}

// send writes a request and returns its id.
func (p *piped) send(method, params string) string {
	p.mu.Lock()
	p.id++
	id := fmt.Sprint(p.id)
	p.mu.Unlock()
	p.write(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q,"params":%s}`, id, method, params))
	return id
}

// answer reads lines until an answer (a line with an id), skipping the
// server's notifications, and returns it with its id.
func (p *piped) answer() (id, line string) {
	for {
		line, err := p.out.ReadString('\n')
		if err != nil {
			p.b.Fatalf("%s: %v", p.name, err)
		}
		i := strings.Index(line, `"id":`)
		if i < 0 {
			continue
		}
		if strings.Contains(line, `"error"`) {
			p.b.Fatalf("%s: %s", p.name, line)
		}
		id := line[i+5:]
		return id[:strings.IndexAny(id, ",}")], line
	}
}

// call makes one request and reads its answer. Not concurrent.
func (p *piped) call(method, params string) string {
	id := p.send(method, params)
	got, line := p.answer()
	if got != id {
		p.b.Fatalf("%s: answer %s to request %s", p.name, got, id)
	}
	return line
}

// burst writes n requests at once and reads their n answers.
func (p *piped) burst(n int, method, params string) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { p.send(method, params) })
	}
	seen := map[string]bool{}
	for len(seen) < n {
		id, _ := p.answer()
		seen[id] = true
	}
	wg.Wait()
}

func (p *piped) close() {
	p.in.Close()
	_ = p.cmd.Wait()
}
