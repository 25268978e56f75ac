package cli

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/mcpauthd/mcpauthd/cli/tokencmd"
	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"export", "--format anthropic|openai [--server URL]… [--account NAME]", "MCP connector blocks for the Anthropic / OpenAI APIs, with fresh tokens", runExport})
}

// runExport prints the block an API request names remote MCP servers with:
// Anthropic Messages API `mcp_servers` (type url, url, name,
// authorization_token) or OpenAI Responses API `tools` (type mcp,
// server_label, server_url, headers.Authorization). The tokens are fresh
// (refreshed first when close to expiry). Without --server, every server
// mcpauthd is signed in to. --account picks that account of each server
// (default: each server's default account). The output holds secrets:
// stderr says so.
func runExport(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "export", "--format anthropic|openai [--server URL]… [--account NAME]")
	format := fs.String("format", "", "anthropic (Messages API mcp_servers) or openai (Responses API tools)")
	var servers headerList
	fs.Var(&servers, "server", "a server `URL` to include (repeatable; default: every signed-in server)")
	minValid := fs.Duration("min-valid", 0, "refresh first unless the token stays valid this long (default 30s)")
	account := tokencmd.AccountFlag(fs)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *format != "anthropic" && *format != "openai" {
		return &ExitError{Code: 2, Err: fmt.Errorf("export: --format %q: want anthropic or openai", *format)}
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	known, err := c.Servers(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, s := range known {
		names[s.URL] = s.Name
	}
	if len(servers) == 0 {
		for _, s := range known {
			switch s.Status {
			case ipc.StateSignedIn, ipc.StateRefreshing, ipc.StatePublic:
				servers = append(servers, s.URL)
			}
		}
		if len(servers) == 0 {
			return &ExitError{Code: 3, Err: fmt.Errorf("export: not signed in to any server; run: mcpauthd login URL")}
		}
	}
	var out []map[string]any
	used := map[string]int{}
	for _, u := range servers {
		tok, err := fetchToken(ctx, e, u, *account, *minValid)
		if err != nil {
			return err
		}
		if tok.TokenType == ipc.TokenTypeDPoP {
			return tokencmd.DPoPBound(u, "an exported token")
		}
		label := exportLabel(names[u], u, used)
		switch *format {
		case "anthropic":
			m := map[string]any{"type": "url", "url": u, "name": label}
			if tok.AccessToken != "" {
				m["authorization_token"] = tok.AccessToken
			}
			out = append(out, m)
		case "openai":
			m := map[string]any{"type": "mcp", "server_label": label, "server_url": u}
			if tok.AccessToken != "" {
				m["headers"] = map[string]string{"Authorization": "Bearer " + tok.AccessToken}
			}
			out = append(out, m)
		}
	}
	key := map[string]string{"anthropic": "mcp_servers", "openai": "tools"}[*format]
	fmt.Fprintln(e.Stderr, "warning: this output contains access tokens (secrets): do not paste it where others can read it, or commit it")
	return e.printJSON(map[string]any{key: out})
}

var labelUnsafe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9_-]+`) })

// exportLabel names a server for an API (letters, digits, '_' and '-'):
// its display name, else its host; repeated names get a numeric suffix.
func exportLabel(name, server string, used map[string]int) string {
	if name == "" {
		if u, err := url.Parse(server); err == nil {
			name = u.Hostname()
		}
	}
	l := strings.Trim(labelUnsafe().ReplaceAllString(name, "-"), "-")
	if l == "" {
		l = "mcp"
	}
	used[l]++
	if n := used[l]; n > 1 {
		l = fmt.Sprintf("%s-%d", l, n)
	}
	return l
}
