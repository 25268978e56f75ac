package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/cli/tokencmd"
	"github.com/mcpauthd/mcpauthd/internal/grantfile"
	"github.com/mcpauthd/mcpauthd/internal/settings"
	"github.com/mcpauthd/mcpauthd/internal/stdiopoll"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/ipc/ipcsource"
	"github.com/mcpauthd/mcpauthd/proxy"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
	"github.com/spf13/pflag"
)

func init() {
	register(command{"proxy", "URL [PORT] [--account NAME] [--header 'K: V']… [--transport M] [--resource URL] [--ignore-tool PATTERN]… [--allow-http] [--debug] [--authorize-param K=V]… [--disable-resource-parameter] [--use-id-token] [--static-oauth-client-info JSON|@FILE]", "stdio MCP bridge (mcp-remote drop-in)", runProxy})
}

// headerList is a repeatable --header flag; it keeps the raw arguments and
// is parsed after the flags, so an error names the header, not its value.
type headerList []string

func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }
func (h *headerList) Type() string       { return "strings" }
func (h *headerList) String() string {
	if len(*h) == 0 {
		return "" // no "(default …)" in the help
	}
	return strconv.Itoa(len(*h)) + " value(s)"
}

// runProxy is `mcpauthd proxy URL`: it takes mcp-remote's common arguments,
// so an app's config only swaps the command. The optional positional
// callback port and --host/--auth-timeout are accepted and ignored (the
// daemon owns the sign-in and its callback). Stdout carries JSON-RPC only;
// diagnostics go to stderr.
func runProxy(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "proxy", "URL [CALLBACK-PORT] [flags]")
	var headers headerList
	fs.Var(&headers, "header", "`K: V` added to every request to the server (repeatable; ${VAR} is read from the environment)")
	var ignore headerList
	fs.Var(&ignore, "ignore-tool", "hide and refuse the tools matching `PATTERN` ('*' is a wildcard, case is ignored; repeatable), on top of the server's policy (mcpauthd tools URL) and the deny_tools setting")
	transport := fs.String("transport", "http-first", "http-first, sse-first, http-only or sse-only")
	resource := fs.String("resource", "", "the server's canonical resource `URL`, to ask the daemon a token for, when it differs from the endpoint")
	allowHTTP := fs.Bool("allow-http", false, "allow plain http to a host that is not this machine")
	debug := fs.Bool("debug", false, "log each message's method and id to stderr (never a token or content)")
	silent := fs.Bool("silent", false, "log errors only")
	account := tokencmd.AccountFlag(fs)
	pf := addProviderFlags(fs)
	clientInfo := fs.String("static-oauth-client-info", "", "mcp-remote's pre-registered client: `JSON` {\"client_id\": …} or @FILE (a client_secret only in a file)")
	clientMeta := fs.String("static-oauth-client-metadata", "", "mcp-remote's client metadata `JSON` or @FILE; its scope and token_endpoint_auth_method are used")
	_ = fs.String("host", "", "ignored (mcp-remote's OAuth callback host; the daemon owns the callback)")
	_ = fs.String("auth-timeout", "", "ignored (the daemon bounds sign-ins)")
	pos, err := parsePositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return &ExitError{Code: 2, Err: fmt.Errorf("proxy: want URL and an optional callback port, got %d argument(s)", len(pos))}
	}
	level := slog.LevelInfo
	switch {
	case *debug:
		level = slog.LevelDebug
	case *silent:
		level = slog.LevelError
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	if len(pos) == 2 {
		log.Debug("the callback port argument is ignored: the daemon owns the sign-in callback", "port", pos[1])
	}
	mode, err := proxy.ParseMode(*transport)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	url := pos[0]
	if err := proxy.CheckURL(url, *allowHTTP); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if *resource != "" {
		if err := proxy.CheckURL(*resource, *allowHTTP); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--resource: %w", err)}
		}
	}
	h := http.Header{}
	for _, arg := range headers {
		k, v, err := proxy.ParseHeader(arg, os.Getenv)
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		h.Add(k, v)
		log.Debug("extra header", "name", k)
	}
	for _, pat := range ignore {
		if err := toolpolicy.CheckPattern(pat); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--ignore-tool: %w", err)}
		}
	}
	// The network policy is the daemon's: its allow_private_networks and
	// proxy settings decide for the proxy too (an app's trimmed environment
	// and a settings file the proxy cannot see would otherwise disagree).
	// With proxy = "environment" the proxy variables are this process's.
	var c *ipc.Client
	var st *ipc.Status
	if err := e.do(ctx, func(cl *ipc.Client) (err error) {
		c = cl
		st, err = cl.Status(ctx)
		return err
	}); err != nil {
		return err
	}
	src := &ipcsource.Source{Daemon: c, URL: url, Account: *account, Reuse: tokenReuse}
	if *resource != "" {
		src.URL = *resource
	}
	if pr, err := pf.proxyRequest(fs, src.URL, *clientInfo, *clientMeta); err != nil {
		return err
	} else if pr != nil {
		if _, err := c.SetProvider(ctx, pr); err != nil {
			return err
		}
	}
	tools, err := toolPolicy(ctx, c, src.URL, nil)
	if err != nil {
		return err
	}
	// The daemon's deny_tools setting applies to every server, as in the
	// reverse proxy; --ignore-tool adds to it for this proxy.
	denied, err := toolpolicy.ParseList(st.Setting("deny_tools"))
	if err != nil {
		return fmt.Errorf("the daemon's deny_tools setting: %w", err)
	}
	ignore = append(denied, ignore...)
	tools = tools.With(ignore...)
	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	updates := make(chan toolpolicy.Policy)
	go followServer(evctx, c, src, tools, ignore, updates, log)
	if !tools.IsZero() {
		log.Debug("tool policy", "policy", tools.String())
	}
	in, ok := e.Stdin.(io.ReadCloser)
	if f, isFile := e.Stdin.(*os.File); isFile {
		in, ok = stdiopoll.Open(f), true // see the package: a wake-up per message
	}
	if !ok {
		in = io.NopCloser(e.Stdin)
	}
	return proxy.Run(ctx, proxy.Config{
		URL:         url,
		Resource:    *resource,
		Mode:        mode,
		Headers:     h,
		Source:      src,
		Logger:      log,
		Tools:       tools,
		ToolUpdates: updates,
		Refused: func(tool string) {
			// The audit record is best effort: the app already has its answer.
			if err := c.ToolRefused(context.WithoutCancel(ctx), src.URL, tool); err != nil {
				log.Warn("the refused tool call was not recorded in the audit log", "err", err)
			}
		},

		AllowPrivateNetworks: st.Setting("allow_private_networks") == "true",
		Proxy:                settings.ProxyFor(st.Setting("proxy")),
	}, in, nopWriteCloser{e.Stdout})
}

// toolPolicy is the tool policy the daemon applies to this proxy's app for
// the server it knows as url: the server's own (none for a server it does
// not know yet) and the app's (mcpauthd tools URL --app), with the
// deny_tools setting. A daemon older than per-app policies answers with
// the server's list: then it is the server's policy from known (the
// server's event, nil to ask for the list), without the app's.
func toolPolicy(ctx context.Context, c *ipc.Client, url string, known *ipc.ServerInfo) (toolpolicy.Policy, error) {
	p, err := c.ToolPolicy(ctx, url)
	if err == nil || !ipc.IsOlderDaemon(err) {
		return p, err
	}
	if known != nil {
		return known.ToolPolicy, nil
	}
	list, err := c.Servers(ctx)
	if err != nil {
		return toolpolicy.Policy{}, err
	}
	for _, s := range list {
		if s.URL == url {
			return s.ToolPolicy, nil
		}
	}
	return toolpolicy.Policy{}, nil
}

// tokenReuse is how long the proxy uses a Bearer token again without
// asking the daemon (one socket round trip per upstream request was most
// of the hop's cost). The daemon's events make it ask again at once when
// the server changes (a sign-out, a refresh, a new sign-in).
const tokenReuse = 30 * time.Second

// followServer drops src's reused token whenever the daemon reports a
// change of its server, and sends the server's tool policy (with the
// --ignore-tool patterns) on tools when it changed, until ctx ends or the
// event stream does.
func followServer(ctx context.Context, c *ipc.Client, src *ipcsource.Source, cur toolpolicy.Policy, ignore []string, tools chan<- toolpolicy.Policy, log *slog.Logger) {
	// shown is the server's and its apps' policies as the last event
	// showed them (nil: not known); most events (a refresh, a sign-in)
	// leave them as they were, and then the proxy does not ask for its own.
	var shown []byte
	err := c.Events(ctx, func(ev ipc.Event) error {
		if ev.Server == nil || ev.Server.URL != src.URL {
			return nil
		}
		switch ev.Type {
		case ipc.EventServer, ipc.EventRemoved:
			src.Forget()
			p := toolpolicy.Policy{}
			if ev.Type == ipc.EventRemoved {
				shown = nil
			} else {
				now, _ := json.Marshal([]any{ev.Server.ToolPolicy, ev.Server.AppToolPolicies})
				if shown != nil && bytes.Equal(now, shown) {
					return nil
				}
				var err error
				if p, err = toolPolicy(ctx, c, src.URL, ev.Server); err != nil {
					log.Warn("the server changed and its tool policy could not be read: the last one stays in force", "err", err)
					return nil
				}
				shown = now
			}
			if p = p.With(ignore...); !p.Equal(cur) {
				cur = p
				select {
				case tools <- p:
				case <-ctx.Done():
				}
			}
		}
		return nil
	})
	if ctx.Err() == nil {
		log.Warn("the daemon's event stream ended: tokens are reused for up to "+tokenReuse.String()+" and tool policy changes no longer reach this proxy", "err", err)
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// proxyRequest is the sign-in settings of the proxy's mcp-remote flags
// for url, nil when none is given. mcp-remote's static client information
// and metadata are JSON or @FILE; a client secret is taken from a file
// only (an argument is visible to every local user).
func (p *providerFlags) proxyRequest(fs *pflag.FlagSet, url, clientInfo, clientMeta string) (*ipc.ProviderRequest, error) {
	o, err := p.overrides(fs)
	if err != nil {
		return nil, err
	}
	r := &ipc.ProviderRequest{URL: url, Provider: o}
	var info struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := readJSONFlag("--static-oauth-client-info", clientInfo, &info); err != nil {
		return nil, err
	}
	if clientInfo != "" && !strings.HasPrefix(clientInfo, "@") && info.ClientSecret != "" {
		return nil, &ExitError{Code: 2, Err: errors.New("--static-oauth-client-info: a client_secret on the command line is visible to every local user; put the JSON in a file and pass --static-oauth-client-info @FILE")}
	}
	if clientInfo != "" && info.ClientID == "" {
		return nil, &ExitError{Code: 2, Err: errors.New("--static-oauth-client-info: no client_id")}
	}
	r.ClientID, r.ClientSecret = info.ClientID, info.ClientSecret
	var meta struct {
		AuthMethod string `json:"token_endpoint_auth_method"`
		Scope      string `json:"scope"`
	}
	if err := readJSONFlag("--static-oauth-client-metadata", clientMeta, &meta); err != nil {
		return nil, err
	}
	if meta.AuthMethod != "" || meta.Scope != "" {
		if r.Provider == nil {
			r.Provider = &ipc.ProviderOverrides{}
		}
		r.Provider.TokenAuthMethod = meta.AuthMethod
		r.Provider.Scopes = strings.Fields(meta.Scope)
	}
	if r.Provider == nil && r.ClientID == "" {
		return nil, nil
	}
	return r, nil
}

// readJSONFlag decodes the JSON object v names into dst: the value itself,
// or @FILE read as internal/grantfile reads every file it is given. Errors
// never quote the content.
func readJSONFlag(name, v string, dst any) error {
	if v == "" {
		return nil
	}
	var raw string
	var err error
	if path, ok := strings.CutPrefix(v, "@"); ok {
		raw, err = grantfile.Read(path, grantfile.JSONObject)
	} else {
		raw, err = grantfile.Check(name, v, grantfile.JSONObject)
	}
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("%s: %w", name, err)}
	}
	if err := json.Unmarshal([]byte(raw), dst); err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("%s: the fields have the wrong types", name)}
	}
	return nil
}
