package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/atomicfile"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/tailscale/hujson"
)

// serverNameRE is what a server entry's NAME may be: what every app accepts
// as a key and a person can type.
// (Compiled on first use, as every regexp of the CLI: a command pays only
// for what it uses.)
var serverNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

func init() {
	register(command{"config", "claude-desktop|cursor|claude-code|vscode [--server NAME=URL]… [--write [--file F]]", "app config for mcpauthd", runConfig})
}

// appConfig is where one app keeps its MCP servers and how it runs one.
type appConfig struct {
	// path is the config file's default location (per OS); keys leads to
	// the servers object in it.
	path func() (string, error)
	keys []string
	// entry is the server entry for url, run through the executable exe: a
	// struct, so its fields are written in the order apps write them.
	entry func(exe, url string) any
}

// stdioServer and httpServer are the two kinds of entries.
type stdioServer struct {
	Type    string   `json:"type,omitempty"`
	Command string   `json:"command"`
	Args    []string `json:"args"`
}

type httpServer struct {
	Type          string `json:"type"`
	URL           string `json:"url"`
	HeadersHelper string `json:"headersHelper"`
}

func stdioEntry(typed bool) func(exe, url string) any {
	return func(exe, url string) any {
		e := stdioServer{Command: exe, Args: []string{"proxy", url}}
		if typed {
			e.Type = "stdio"
		}
		return e
	}
}

func inConfigDir(parts ...string) func() (string, error) {
	return func() (string, error) {
		d, err := os.UserConfigDir() // $XDG_CONFIG_HOME or ~/.config, ~/Library/Application Support, %APPDATA%
		if err != nil {
			return "", err
		}
		return filepath.Join(append([]string{d}, parts...)...), nil
	}
}

func inHome(parts ...string) func() (string, error) {
	return func() (string, error) {
		d, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(append([]string{d}, parts...)...), nil
	}
}

var appConfigs = map[string]appConfig{
	"claude-desktop": {path: inConfigDir("Claude", "claude_desktop_config.json"), keys: []string{"mcpServers"}, entry: stdioEntry(false)},
	"cursor":         {path: inHome(".cursor", "mcp.json"), keys: []string{"mcpServers"}, entry: stdioEntry(false)},
	// VS Code's user-level mcp.json (Code/User/mcp.json); a workspace's is
	// .vscode/mcp.json (--file). Both keep servers under "servers".
	"vscode": {path: inConfigDir("Code", "User", "mcp.json"), keys: []string{"servers"}, entry: stdioEntry(true)},
	"claude-code": {path: inHome(".claude.json"), keys: []string{"mcpServers"}, entry: func(exe, url string) any {
		return httpServer{Type: "http", URL: url, HeadersHelper: shellQuote(exe) + " headers " + shellQuote(url)}
	}},
}

// shellQuote quotes s for a POSIX shell when it needs it (headersHelper is
// run by a shell).
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>()*?[]#~!{}") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runConfig prints an app's configuration snippet for mcpauthd, or with
// --write merges it into the app's config file in place: a backup first
// (FILE.bak-TIMESTAMP), unknown fields and key order kept, entries that run
// `npx mcp-remote URL …` turned into `mcpauthd proxy URL …` with the
// arguments the proxy understands. Without --server the snippet lists the
// servers the daemon knows; --write without --server only converts.
func runConfig(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "config", "claude-desktop|cursor|claude-code|vscode [--server NAME=URL]… [--write [--force]] [--file F] [--command PATH]")
	var servers headerList
	fs.Var(&servers, "server", "`NAME=URL` of a server to add (repeatable)")
	write := fs.Bool("write", false, "rewrite the app's config file in place (a backup is made first)")
	force := fs.Bool("force", false, "with --write, replace an existing entry of the same name")
	file := fs.String("file", "", "the config `file` to write (default: the app's own, per OS)")
	exe, _ := os.Executable()
	if exe == "" {
		exe = "mcpauthd"
	}
	command := fs.String("command", exe, "the mcpauthd `path` the app runs (apps often start with a short PATH)")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	app, ok := appConfigs[pos[0]]
	if !ok {
		return &ExitError{Code: 2, Err: fmt.Errorf("config: unknown app %q: want claude-desktop, cursor, claude-code or vscode", pos[0])}
	}
	type named struct{ name, url string }
	var add []named
	for _, s := range servers {
		n, u, ok := strings.Cut(s, "=")
		if !ok || n == "" || u == "" {
			return &ExitError{Code: 2, Err: fmt.Errorf("config: --server %q: want NAME=URL", s)}
		}
		if !serverNameRE().MatchString(n) {
			return &ExitError{Code: 2, Err: fmt.Errorf("config: --server %q: a NAME is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", s)}
		}
		if !ipc.IsHTTPURL(u) {
			return &ExitError{Code: 2, Err: fmt.Errorf("config: --server %q: the URL must be http(s)", s)}
		}
		add = append(add, named{n, u})
	}
	if len(add) == 0 && !*write {
		c, err := e.client(ctx)
		if err != nil {
			return err
		}
		known, err := c.Servers(ctx)
		if err != nil {
			return err
		}
		used := map[string]int{}
		for _, s := range known {
			add = append(add, named{exportLabel(s.Name, s.URL, used), s.URL})
		}
	}
	entries := map[string]any{}
	var order []string
	for _, s := range add {
		entries[s.name] = app.entry(*command, s.url)
		order = append(order, s.name)
	}
	if !*write {
		v := map[string]any{app.keys[len(app.keys)-1]: entries}
		for i := len(app.keys) - 2; i >= 0; i-- {
			v = map[string]any{app.keys[i]: v}
		}
		return e.printJSON(v)
	}
	path := *file
	if path == "" {
		if path, err = app.path(); err != nil {
			return err
		}
	}
	if err := checkLasting(*command); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	res, err := rewriteConfig(path, app.keys, order, entries, *command, *force, time.Now())
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if !res.changed {
		fmt.Fprintf(e.Stdout, "Nothing to change in %s", path)
		if len(res.same) > 0 {
			fmt.Fprintf(e.Stdout, ": %s already set up", strings.Join(res.same, ", "))
		}
		fmt.Fprintln(e.Stdout, ".")
		return nil
	}
	if res.backup != "" {
		fmt.Fprintf(e.Stdout, "Backed up %s to %s\n", path, res.backup)
	}
	for _, n := range res.converted {
		fmt.Fprintf(e.Stdout, "Converted %s from mcp-remote to mcpauthd proxy\n", n)
	}
	for _, n := range res.dropped {
		fmt.Fprintf(e.Stderr, "warning: %s\n", n)
	}
	for _, n := range order {
		if !slices.Contains(res.same, n) {
			fmt.Fprintf(e.Stdout, "Wrote %s\n", n)
		}
	}
	fmt.Fprintf(e.Stdout, "Updated %s; restart the app to use it.\n", path)
	return nil
}

type rewriteResult struct {
	changed   bool   // false: the file already said all this; nothing was written
	backup    string // where the old file went ("" when there was none)
	converted []string
	dropped   []string // warnings about mcp-remote arguments left out
	same      []string // entries already as wanted
}

// rewriteConfig merges entries into the servers object at keys in the JSON
// or JSONC file path (created when missing), converting mcp-remote
// entries, through RFC 6902 patches on the file's own syntax tree
// (github.com/tailscale/hujson): comments, key order and every other value
// stay. An existing entry of the same name that says something else is
// replaced only with force. When nothing changes, nothing is written and
// no backup is made; otherwise the old file is kept under a backup name
// that never overwrites an earlier backup.
func rewriteConfig(path string, keys, order []string, entries map[string]any, exe string, force bool, now time.Time) (*rewriteResult, error) {
	raw, err := os.ReadFile(path)
	mode := os.FileMode(0o600)
	exists := err == nil
	switch {
	case errors.Is(err, os.ErrNotExist):
		raw = []byte("{}")
	case err != nil:
		return nil, err
	default:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	root, err := hujson.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not JSON or JSONC: %w", err)
	}
	if root.Value.Kind() != '{' {
		return nil, errors.New("the file is not a JSON object")
	}
	res := &rewriteResult{}
	var ops []patchOp
	ptr := ""
	for _, k := range keys { // make missing levels; refuse a level that is not an object
		ptr += "/" + pointerEscape(k)
		switch v := root.Find(ptr); {
		case v == nil || v.Value.Kind() == 'n':
			ops = append(ops, patchOp{Op: "add", Path: ptr, Value: map[string]any{}})
		case v.Value.Kind() != '{':
			return nil, fmt.Errorf("%q is not an object", k)
		}
	}
	if err := apply(&root, ops); err != nil {
		return nil, err
	}
	ops = nil
	srv := root.Find(ptr).Value.(*hujson.Object)
	var conflicts []string
	for _, m := range srv.Members {
		name := m.Name.Value.(hujson.Literal).String()
		std := standard(m.Value)
		if want, ok := entries[name]; ok {
			if sameJSON(std, want) {
				res.same = append(res.same, name)
				delete(entries, name)
			} else if !force {
				conflicts = append(conflicts, name)
			}
			continue
		}
		command, args, warn, ok := convertMCPRemote(std, exe)
		if !ok {
			continue
		}
		at := ptr + "/" + pointerEscape(name)
		ops = append(ops, patchOp{Op: "replace", Path: at + "/command", Value: command}, patchOp{Op: "add", Path: at + "/args", Value: args})
		res.converted = append(res.converted, name)
		for _, w := range warn {
			res.dropped = append(res.dropped, name+": "+w)
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("the file already has a server named %s that runs something else; "+
			"pick another NAME in --server NAME=URL, or replace it with --force", strings.Join(conflicts, ", "))
	}
	for _, n := range order {
		if e, ok := entries[n]; ok {
			ops = append(ops, patchOp{Op: "add", Path: ptr + "/" + pointerEscape(n), Value: e})
		}
	}
	if len(ops) == 0 {
		return res, nil
	}
	if err := apply(&root, ops); err != nil {
		return nil, err
	}
	var out []byte
	if json.Valid(raw) { // plain JSON stays plain, indented as the apps write it
		var ind bytes.Buffer
		if err := json.Indent(&ind, root.Pack(), "", "  "); err != nil {
			return nil, err
		}
		out = append(ind.Bytes(), '\n')
	} else { // JSONC: hujson's formatting, comments kept
		root.Format()
		out = root.Pack()
	}
	if exists {
		if res.backup, err = backup(path, raw, mode, now); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	if err := atomicfile.Write(path, out, mode, 0o700); err != nil {
		return nil, err
	}
	res.changed = true
	return res, nil
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func apply(v *hujson.Value, ops []patchOp) error {
	if len(ops) == 0 {
		return nil
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	return v.Patch(b)
}

// pointerEscape escapes one JSON Pointer (RFC 6901) reference token.
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// standard returns v as standard JSON (comments and trailing commas
// dropped).
func standard(v hujson.Value) []byte {
	c := v.Clone()
	c.Standardize()
	return c.Pack()
}

// sameJSON reports whether the JSON document b and the value v mean the
// same thing.
func sameJSON(b []byte, v any) bool {
	var x, y any
	wb, err := json.Marshal(v)
	if err != nil || json.Unmarshal(b, &x) != nil || json.Unmarshal(wb, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// backup copies the old file's bytes next to it as FILE.bak-YYYYMMDD-HHMMSS
// (then -2, -3, … within the same second), never replacing a backup.
func backup(path string, raw []byte, mode os.FileMode, now time.Time) (string, error) {
	base := path + ".bak-" + now.Format("20060102-150405")
	for i := 1; i < 1000; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if _, err := f.Write(raw); err != nil {
			f.Close()
			return "", err
		}
		return name, f.Close()
	}
	return "", errors.New("too many backups this second")
}

// proxyArgs are the mcp-remote arguments `mcpauthd proxy` understands
// (cli/proxy.go), and whether each takes a value.
var proxyArgs = map[string]bool{
	"header": true, "transport": true, "resource": true, "host": true, "auth-timeout": true,
	"allow-http": false, "debug": false, "silent": false,
	"authorize-param": true, "disable-resource-parameter": false, "use-id-token": false, "static-oauth-client-metadata": true,
}

// mcpRemoteBool are mcp-remote's flags without a value that the proxy does
// not take; every other unknown flag is taken to have one.
var mcpRemoteBool = map[string]bool{"enable-proxy": true}

// convertMCPRemote reads an entry (standard JSON) that runs mcp-remote
// (npx/bunx/pnpx mcp-remote[@v] URL …, or mcp-remote URL …, possibly behind
// cmd /c) and returns the command and arguments that run `exe proxy URL …`
// instead, keeping the arguments the proxy understands. It names (never
// quotes) what it drops.
func convertMCPRemote(entry []byte, exe string) (command string, args, warn []string, ok bool) {
	var e struct {
		Command string   `json:"command"`
		Args    []string `json:"args"`
	}
	if json.Unmarshal(entry, &e) != nil || e.Command == "" {
		return "", nil, nil, false
	}
	argv := append([]string{e.Command}, e.Args...)
	if base := strings.ToLower(filepath.Base(argv[0])); (base == "cmd" || base == "cmd.exe") && len(argv) > 2 && strings.EqualFold(argv[1], "/c") {
		argv = argv[2:]
	}
	i := slices.IndexFunc(argv, func(a string) bool {
		b := strings.ToLower(filepath.Base(a))
		return b == "mcp-remote" || strings.HasPrefix(b, "mcp-remote@") || b == "mcp-remote.cmd"
	})
	if i < 0 {
		return "", nil, nil, false
	}
	rest := argv[i+1:]
	out := []string{"proxy"}
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, known := proxyArgs[name]
		if !known {
			takes = !mcpRemoteBool[name]
		}
		n := 1
		if takes && !hasValue && j+1 < len(rest) {
			n = 2
		}
		if known {
			out = append(out, rest[j:j+n]...)
		} else {
			warn = append(warn, "dropped mcp-remote's --"+name+" (mcpauthd proxy has no such option)")
		}
		j += n - 1
	}
	return exe, out, warn, true
}

// mcpRemoteURLs lists the server URLs of mcp-remote entries in an app's
// config file, JSON or JSONC (for `mcpauthd import mcp-remote`): the first
// non-flag argument after mcp-remote.
func mcpRemoteURLs(path string, keys []string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	root, err := hujson.Parse(raw)
	if err != nil {
		return nil
	}
	ptr := ""
	for _, k := range keys {
		ptr += "/" + pointerEscape(k)
	}
	v := root.Find(ptr)
	if v == nil || v.Value.Kind() != '{' {
		return nil
	}
	var urls []string
	for _, m := range v.Value.(*hujson.Object).Members {
		_, args, _, ok := convertMCPRemote(standard(m.Value), "mcpauthd")
		if !ok {
			continue
		}
		for _, a := range args[1:] {
			if strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
				urls = append(urls, a)
				break
			}
		}
	}
	return urls
}
