package cli

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

func init() {
	register(command{"import", "mcp-remote [URL]… [--dir D] [--replace] [--move]", "take over mcp-remote's sign-ins", runImport})
}

// mcp-remote (0.15.x) keeps each server's state in
// $MCP_REMOTE_CONFIG_DIR (default ~/.mcp-auth)/mcp-remote-v1/ (older
// versions: mcp-remote-<version>/) as HASH_client_info.json,
// HASH_tokens.json, HASH_code_verifier_*.txt, …, where HASH is the hex MD5
// of the server URL — joined with "|" to the --resource, authorize
// parameters, headers, client metadata URL and token endpoint when given.
// The URL itself is stored nowhere, so the candidates are the URLs the user
// passes, the servers the daemon knows, and the mcp-remote entries of the
// apps' config files; a hash none of them matches is reported.

type mcpRemoteTokens struct {
	AccessToken  string   `json:"access_token"`
	TokenType    string   `json:"token_type"`
	RefreshToken string   `json:"refresh_token"`
	ExpiresIn    *float64 `json:"expires_in"`
	ExpiresAt    *float64 `json:"expires_at"` // milliseconds since the epoch
	Scope        string   `json:"scope"`
	Issuer       string   `json:"issuer"`
}

type mcpRemoteClient struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	RedirectURIs            []string `json:"redirect_uris"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Issuer                  string   `json:"issuer"`
}

// mcpRemoteHash is mcp-remote's getServerUrlHash for a URL with an
// optional --resource and nothing else.
func mcpRemoteHash(url, resource string) string {
	parts := []string{url}
	if resource != "" {
		parts = append(parts, resource)
	}
	sum := md5.Sum([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(sum[:])
}

func runImport(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "import", "mcp-remote [URL]… [--dir D] [--replace] [--move]")
	dir := fs.String("dir", "", "mcp-remote's directory (default $MCP_REMOTE_CONFIG_DIR, else ~/.mcp-auth)")
	replace := fs.Bool("replace", false, "replace the sign-in of a server mcpauthd is already signed in to")
	move := fs.Bool("move", false, "after importing, move mcp-remote's token files aside (kept as a 0600 backup) so mcp-remote cannot refresh the same tokens")
	pos, err := parsePositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] != "mcp-remote" {
		return &ExitError{Code: 2, Err: errors.New("import: only mcp-remote is supported: mcpauthd import mcp-remote [URL]…")}
	}
	if *dir == "" {
		*dir = os.Getenv("MCP_REMOTE_CONFIG_DIR")
	}
	if *dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return err
		}
		*dir = filepath.Join(home, ".mcp-auth")
	}
	stores, _ := filepath.Glob(filepath.Join(*dir, "mcp-remote-*"))
	if len(stores) == 0 {
		return fmt.Errorf("import: no mcp-remote state in %s (mcp-remote-*/)", *dir)
	}
	// Every HASH with a tokens file, from the newest file when several
	// versions' directories hold one (copies: all of them, for --move).
	found := map[string]string{} // hash -> directory
	mtime := map[string]time.Time{}
	copies := map[string][]string{} // hash -> every tokens file
	for _, d := range stores {
		files, _ := filepath.Glob(filepath.Join(d, "*_tokens.json"))
		for _, f := range files {
			h := strings.TrimSuffix(filepath.Base(f), "_tokens.json")
			copies[h] = append(copies[h], f)
			fi, err := os.Stat(f)
			if err != nil || fi.ModTime().Before(mtime[h]) {
				continue
			}
			found[h], mtime[h] = d, fi.ModTime()
		}
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	candidates := pos[1:]
	if known, err := c.Servers(ctx); err == nil {
		for _, s := range known {
			candidates = append(candidates, s.URL)
		}
	}
	users := map[string][]string{} // URL -> apps whose config still runs mcp-remote for it
	for _, app := range []string{"claude-desktop", "cursor", "vscode", "claude-code"} {
		if p, err := appConfigs[app].path(); err == nil {
			for _, u := range mcpRemoteURLs(p, appConfigs[app].keys) {
				candidates = append(candidates, u)
				users[u] = append(users[u], fmt.Sprintf("%s (%s): run mcpauthd config %s --write", app, p, app))
			}
		}
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)

	imported, failed := 0, 0
	for _, u := range candidates {
		h := mcpRemoteHash(u, "")
		d, ok := found[h]
		if !ok {
			if slices.Contains(pos[1:], u) {
				fmt.Fprintf(e.Stderr, "%s: mcp-remote has no sign-in for it in %s\n", u, *dir)
				failed++
			}
			continue
		}
		delete(found, h)
		req, err := readMCPRemote(d, h, mtime[h])
		if err != nil {
			fmt.Fprintf(e.Stderr, "%s: %s\n", u, sanitize.Error(err))
			failed++
			continue
		}
		req.URL, req.Replace = u, *replace
		info, err := c.Import(ctx, req)
		if err != nil {
			fmt.Fprintf(e.Stderr, "%s: not imported: %s\n", u, sanitize.Error(err))
			failed++
			continue
		}
		refresh := "without a refresh token: sign in again when it expires"
		if req.Tokens.RefreshToken != "" {
			refresh = "with its refresh token"
		}
		fmt.Fprintf(e.Stdout, "Imported %s (issuer %s, client %s, %s; now %s)\n", u, sanitize.Terminal(info.Issuer), sanitize.Terminal(req.Client.ClientID), refresh, sanitize.Terminal(string(info.Status)))
		imported++
		if req.Tokens.RefreshToken != "" {
			retire(e, u, copies[h], *move, time.Now())
		}
		for _, app := range users[u] {
			fmt.Fprintf(e.Stderr, "%s: still run by mcp-remote in %s\n", u, app)
		}
	}
	if len(found) > 0 {
		fmt.Fprintf(e.Stdout, "%d mcp-remote sign-in(s) left for servers not named here (mcp-remote keeps only a hash of the URL): pass their URLs, as given to mcp-remote\n", len(found))
	}
	if *move {
		fmt.Fprintf(e.Stdout, "%d imported, %d failed.\n", imported, failed)
	} else {
		fmt.Fprintf(e.Stdout, "%d imported, %d failed. mcp-remote's files were left as they are.\n", imported, failed)
	}
	if failed > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("import: %d server(s) not imported", failed)}
	}
	return nil
}

// readMCPRemote reads one server's client and tokens. Errors name the file,
// never its contents.
func readMCPRemote(dir, hash string, written time.Time) (*ipc.ImportRequest, error) {
	var tok mcpRemoteTokens
	var cl mcpRemoteClient
	for _, f := range []struct {
		name string
		v    any
	}{{"tokens.json", &tok}, {"client_info.json", &cl}} {
		p := filepath.Join(dir, hash+"_"+f.name)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err // names the file only
		}
		if json.Unmarshal(b, f.v) != nil {
			return nil, fmt.Errorf("%s is not mcp-remote's JSON", p)
		}
	}
	if cl.ClientID == "" {
		return nil, fmt.Errorf("%s has no client_id", filepath.Join(dir, hash+"_client_info.json"))
	}
	var expiry time.Time
	switch {
	case tok.ExpiresAt != nil:
		expiry = time.UnixMilli(int64(*tok.ExpiresAt))
	case tok.ExpiresIn != nil:
		expiry = written.Add(time.Duration(*tok.ExpiresIn * float64(time.Second)))
	}
	issuer := cl.Issuer
	if issuer == "" {
		issuer = tok.Issuer
	}
	return &ipc.ImportRequest{
		Client: ipc.ImportClient{
			ClientID: cl.ClientID, ClientSecret: cl.ClientSecret, AuthMethod: cl.TokenEndpointAuthMethod,
			RedirectURIs: cl.RedirectURIs, Issuer: issuer,
		},
		Tokens: ipc.ImportTokens{
			AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType,
			Expiry: expiry, Scopes: strings.Fields(tok.Scope),
		},
	}, nil
}

// retire deals with mcp-remote's copies of a refresh token mcpauthd now
// holds. Two programs refreshing one rotating refresh token make the
// authorization server revoke the whole family (RFC 9700 §4.14.2), so
// mcp-remote must stop using it. With move (the user's consent), each
// tokens file is renamed aside — mcp-remote reads only HASH_tokens.json,
// so it can no longer refresh — keeping the bytes as a 0600 backup beside
// it; without it, a warning names the files and the flag.
func retire(e *Env, url string, files []string, move bool, now time.Time) {
	if !move {
		for _, f := range files {
			fmt.Fprintf(e.Stderr, "%s: mcp-remote still holds a copy of this refresh token in %s; if an app still runs mcp-remote for it, the two will fight over rotation: run again with --move\n", url, f)
		}
		return
	}
	for _, f := range files {
		aside := f + ".moved-to-mcpauthd-" + now.Format("20060102-150405")
		if err := os.Chmod(f, 0o600); err != nil {
			fmt.Fprintf(e.Stderr, "%s: could not move %s aside: %v\n", url, f, err)
			continue
		}
		if err := os.Rename(f, aside); err != nil {
			fmt.Fprintf(e.Stderr, "%s: could not move %s aside: %v\n", url, f, err)
			continue
		}
		fmt.Fprintf(e.Stdout, "Moved mcp-remote's copy aside: %s (mcp-remote can no longer refresh it)\n", aside)
	}
}
