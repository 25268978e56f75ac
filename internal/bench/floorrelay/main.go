// Command floorrelay is the floor for `mcpauthd proxy URL` as a process
// hop: the least a stdio ↔ Streamable HTTP bridge can do. It asks the
// daemon for URL's token once (as floorclient does), then POSTs each line
// of stdin as it is, on keep-alive connections, with the token and the
// session id, and writes each answer (a JSON body, or the data of each
// event of a stream) as one line to stdout. It does nothing else: no
// decoding, no policy, no resumption, no refresh. It runs as mcpauthd
// proxy does: one processor, standard input read through the poller.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/mcpauthd/mcpauthd/internal/stdiopoll"
)

func main() {
	// The runtime set-up of mcpauthd proxy (cmd/mcpauthd-engine), so that the
	// floor is a bridge doing the least with the same runtime.
	runtime.GOMAXPROCS(1)
	sock, url := os.Getenv("MCPAUTH_SOCK"), os.Args[1]
	uc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	res, err := uc.Post("http://mcpauthd/v1/token", "application/json", strings.NewReader(`{"url":"`+url+`"}`))
	if err != nil {
		fail(err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if err := json.Unmarshal(b, &t); err != nil || res.StatusCode != http.StatusOK {
		fail(fmt.Errorf("no token: %s", b))
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var (
		outMu   sync.Mutex
		session string
		sessMu  sync.Mutex
		wg      sync.WaitGroup
	)
	out := func(line []byte) {
		outMu.Lock()
		defer outMu.Unlock()
		_, _ = os.Stdout.Write(append(line, '\n'))
	}
	post := func(msg []byte) {
		defer wg.Done()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(msg))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if t.AccessToken != "" { // "" for a server that needs no sign-in
			req.Header.Set("Authorization", "Bearer "+t.AccessToken)
		}
		sessMu.Lock()
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		}
		sessMu.Unlock()
		res, err := hc.Do(req)
		if err != nil {
			fail(err)
		}
		defer res.Body.Close()
		if s := res.Header.Get("Mcp-Session-Id"); s != "" {
			sessMu.Lock()
			session = s
			sessMu.Unlock()
		}
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
			if body, _ := io.ReadAll(res.Body); len(bytes.TrimSpace(body)) > 0 {
				out(bytes.TrimSpace(body))
			}
			return
		}
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: ")); ok {
				out(bytes.Clone(data))
			}
		}
	}
	in := bufio.NewReader(stdiopoll.Open(os.Stdin))
	first := true
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			wg.Add(1)
			if first { // the initialize: its answer brings the session id
				post(line)
				first = false
			} else {
				go post(line)
			}
		}
		if err != nil {
			break
		}
	}
	wg.Wait()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "floorrelay:", err)
	os.Exit(1)
}
