package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

func init() {
	register(command{"config", "claude-desktop|cursor|claude-code|vscode [--server NAME=URL]… [--write [--file F]]   app config for mcpauthd", runConfig})
}

// appConfig is where one app keeps its MCP servers and how it runs one.
type appConfig struct {
	// path is the config file's default location (per OS); keys leads to
	// the servers object in it.
	path func() (string, error)
	keys []string
	// entry is the server entry for url, run through the executable exe.
	entry func(exe, url string) map[string]any
}

func stdioEntry(typed bool) func(exe, url string) map[string]any {
	return func(exe, url string) map[string]any {
		m := map[string]any{"command": exe, "args": []string{"proxy", url}}
		if typed {
			m["type"] = "stdio"
		}
		return m
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
	"claude-code": {path: inHome(".claude.json"), keys: []string{"mcpServers"}, entry: func(exe, url string) map[string]any {
		return map[string]any{"type": "http", "url": url, "headersHelper": shellQuote(exe) + " headers " + shellQuote(url)}
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
	fs := flags(e, "config", "claude-desktop|cursor|claude-code|vscode [--server NAME=URL]… [--write] [--file F] [--command PATH]")
	var servers headerList
	fs.Var(&servers, "server", "`NAME=URL` of a server to add (repeatable)")
	write := fs.Bool("write", false, "rewrite the app's config file in place (a backup is made first)")
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
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	path := *file
	if path == "" {
		if path, err = app.path(); err != nil {
			return err
		}
	}
	res, err := rewriteConfig(path, app.keys, order, entries, *command, time.Now())
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
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
		fmt.Fprintf(e.Stdout, "Wrote %s\n", n)
	}
	fmt.Fprintf(e.Stdout, "Updated %s; restart the app to use it.\n", path)
	return nil
}

type rewriteResult struct {
	backup    string
	converted []string
	dropped   []string // warnings about mcp-remote arguments left out
}

// rewriteConfig merges entries into the servers object at keys in the JSON
// file path (created when missing), converting mcp-remote entries. Every
// other value is kept byte for byte (re-indented) in its place.
func rewriteConfig(path string, keys, order []string, entries map[string]any, exe string, now time.Time) (*rewriteResult, error) {
	raw, err := os.ReadFile(path)
	mode := os.FileMode(0o600)
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
	root, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("not plain JSON (comments or trailing commas?); edit it by hand: %w", err)
	}
	res := &rewriteResult{}
	// Walk down to the servers object, making missing levels.
	chain := []*object{root}
	for _, k := range keys {
		cur := chain[len(chain)-1]
		v, ok := cur.get(k)
		var next *object
		if ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			if next, err = parseObject(v); err != nil {
				return nil, fmt.Errorf("%q is not an object: %w", k, err)
			}
		} else {
			next = &object{}
		}
		chain = append(chain, next)
	}
	srv := chain[len(chain)-1]
	for _, k := range srv.keys {
		conv, warn, ok := convertMCPRemote(srv.vals[k], exe)
		if !ok {
			continue
		}
		srv.vals[k] = conv
		res.converted = append(res.converted, k)
		for _, w := range warn {
			res.dropped = append(res.dropped, k+": "+w)
		}
	}
	for _, n := range order {
		b, err := json.Marshal(entries[n])
		if err != nil {
			return nil, err
		}
		srv.set(n, b)
	}
	for i := len(keys) - 1; i >= 0; i-- {
		b, err := chain[i+1].marshal()
		if err != nil {
			return nil, err
		}
		chain[i].set(keys[i], b)
	}
	out, err := root.marshal()
	if err != nil {
		return nil, err
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, out, "", "  "); err != nil {
		return nil, err
	}
	ind.WriteByte('\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		res.backup = path + ".bak-" + now.Format("20060102-150405")
		if err := os.WriteFile(res.backup, raw, mode); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(ind.Bytes()); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Chmod(mode); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	return res, os.Rename(tmp.Name(), path)
}

// object is a JSON object with its key order and raw values.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func parseObject(b []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	o := &object{vals: map[string]json.RawMessage{}}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := o.vals[k]; !dup {
			o.keys = append(o.keys, k)
		}
		o.vals[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return o, nil
}

func (o *object) get(k string) (json.RawMessage, bool) {
	v, ok := o.vals[k]
	return v, ok
}

func (o *object) set(k string, v json.RawMessage) {
	if o.vals == nil {
		o.vals = map[string]json.RawMessage{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// proxyArgs are the mcp-remote arguments `mcpauthd proxy` understands
// (cli/proxy.go), and whether each takes a value.
var proxyArgs = map[string]bool{
	"header": true, "transport": true, "resource": true, "host": true, "auth-timeout": true,
	"allow-http": false, "debug": false, "silent": false,
}

// mcpRemoteBool are mcp-remote's flags without a value that the proxy does
// not take; every other unknown flag is taken to have one.
var mcpRemoteBool = map[string]bool{"enable-proxy": true}

// convertMCPRemote turns an entry that runs mcp-remote (npx/bunx/pnpx
// mcp-remote[@v] URL …, or mcp-remote URL …, possibly behind cmd /c) into
// one that runs `exe proxy URL …`, keeping the entry's other fields and the
// arguments the proxy understands. It names (never quotes) what it drops.
func convertMCPRemote(entry json.RawMessage, exe string) (json.RawMessage, []string, bool) {
	o, err := parseObject(entry)
	if err != nil {
		return nil, nil, false
	}
	var command string
	var args []string
	if v, ok := o.get("command"); !ok || json.Unmarshal(v, &command) != nil {
		return nil, nil, false
	}
	if v, ok := o.get("args"); ok && json.Unmarshal(v, &args) != nil {
		return nil, nil, false
	}
	argv := append([]string{command}, args...)
	if base := strings.ToLower(filepath.Base(argv[0])); (base == "cmd" || base == "cmd.exe") && len(argv) > 2 && strings.EqualFold(argv[1], "/c") {
		argv = argv[2:]
	}
	i := slices.IndexFunc(argv, func(a string) bool {
		b := strings.ToLower(filepath.Base(a))
		return b == "mcp-remote" || strings.HasPrefix(b, "mcp-remote@") || b == "mcp-remote.cmd"
	})
	if i < 0 {
		return nil, nil, false
	}
	rest := argv[i+1:]
	out := []string{"proxy"}
	var warn []string
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
	cb, _ := json.Marshal(exe)
	ab, _ := json.Marshal(out)
	o.set("command", cb)
	o.set("args", ab)
	b, err := o.marshal()
	if err != nil {
		return nil, nil, false
	}
	return b, warn, true
}

// mcpRemoteURLs lists the server URLs of mcp-remote entries in an app's
// config file (for `mcpauthd import mcp-remote`): the first non-flag
// argument after mcp-remote.
func mcpRemoteURLs(path string, keys []string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	o, err := parseObject(raw)
	for _, k := range keys {
		if err != nil {
			return nil
		}
		v, ok := o.get(k)
		if !ok {
			return nil
		}
		o, err = parseObject(v)
	}
	if err != nil {
		return nil
	}
	var urls []string
	for _, k := range o.keys {
		conv, _, ok := convertMCPRemote(o.vals[k], "mcpauthd")
		if !ok {
			continue
		}
		var e struct{ Args []string }
		if json.Unmarshal(conv, &e) == nil {
			for _, a := range e.Args[1:] {
				if strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
					urls = append(urls, a)
					break
				}
			}
		}
	}
	return urls
}
