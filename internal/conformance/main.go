// Command conformance is the adapter the official MCP conformance suite runs
// against mcpauthd: once per scenario, with the server URL as its last
// argument and the scenario in MCP_CONFORMANCE_SCENARIO.
//
// The authorization scenarios (auth/…) are described here; every other
// client scenario runs through the stdio proxy (proxy.go).
//
// For the authorization scenarios it runs the daemon itself in-process, with a throwaway registry (the
// explicit file secret backend in a temporary directory), and talks MCP
// with the Go SDK's client over oauth.Transport, whose token source is the
// daemon: its token hand-out, its challenge path (sign-in, refresh, step-up)
// and its registration store. Pre-registered credentials go through the
// daemon's login, as `mcpauthd login --client-id` does. Only the browser is
// replaced (noRedirectBrowser): it follows the sign-in's start link, and the
// suite's authorization endpoint redirects at once, so a GET that does not
// follow the redirect yields the URL handed to Daemon.Complete — the entry
// point the loopback callback and a pasted redirect URL share.
//
//	go build -o bin/conformance-adapter ./internal/conformance
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// cimdURL is the client id the suite expects from a client that uses a
// Client ID Metadata Document.
const cimdURL = "https://conformance-test.local/client-metadata.json"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: conformance-adapter <server-url>")
		os.Exit(2)
	}
	serverURL := os.Args[len(os.Args)-1]
	scenario := os.Getenv("MCP_CONFORMANCE_SCENARIO")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	do := run
	if throughProxy(scenario) {
		do = runThroughProxy
	}
	if err := do(ctx, logger, serverURL, scenario, os.Getenv("MCP_CONFORMANCE_CONTEXT")); err != nil {
		logger.Error("scenario failed", "scenario", scenario, "err", err)
		os.Exit(1)
	}
}

// scenarioContext is the part of MCP_CONFORMANCE_CONTEXT the auth scenarios use.
type scenarioContext struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Issuer       string `json:"issuer"`
	// client-credentials-jwt: private_key_jwt.
	PrivateKeyPEM string `json:"private_key_pem"`
	SigningAlg    string `json:"signing_algorithm"`
	// enterprise-managed-authorization: the IdP and the user's ID token.
	IdPClientID      string `json:"idp_client_id"`
	IdPIDToken       string `json:"idp_id_token"`
	IdPIssuer        string `json:"idp_issuer"`
	IdPTokenEndpoint string `json:"idp_token_endpoint"`
	// wif-jwt-bearer: the workload JWT (the other two are for negative tests).
	ValidJWT string `json:"valid_jwt"`
}

// grantConfig is the non-interactive grant a user would configure for the
// scenario (`mcpauthd login URL --client-credentials --client-id …
// --client-secret-file …|--private-key-file …`, and the jwt-bearer and
// enterprise equivalents), or nil for the authorization code.
func grantConfig(scenario string, sc *scenarioContext) *ipc.GrantConfig {
	switch {
	case strings.HasPrefix(scenario, "auth/client-credentials"):
		return &ipc.GrantConfig{Type: ipc.GrantClientCredentials, ClientID: sc.ClientID, ClientSecret: sc.ClientSecret,
			PrivateKey: sc.PrivateKeyPEM, SigningAlg: sc.SigningAlg, ClientIssuer: sc.Issuer}
	case sc.IdPIDToken != "":
		return &ipc.GrantConfig{Type: ipc.GrantEnterprise, ClientID: sc.ClientID, ClientSecret: sc.ClientSecret,
			IdPIssuer: sc.IdPIssuer, IdPTokenEndpoint: sc.IdPTokenEndpoint, IdPClientID: sc.IdPClientID, IDToken: sc.IdPIDToken}
	case sc.ValidJWT != "":
		return &ipc.GrantConfig{Type: ipc.GrantJWTBearer, ClientID: sc.ClientID, Assertion: sc.ValidJWT}
	}
	return nil
}

func run(ctx context.Context, logger *slog.Logger, serverURL, scenario, rawCtx string) error {
	var sc scenarioContext
	if rawCtx != "" {
		if err := json.Unmarshal([]byte(rawCtx), &sc); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "mcpauthd-conformance-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, slog.New(slog.DiscardHandler))})
	if err != nil {
		return err
	}
	defer st.Close()
	httpc := oauth.NewHTTPClient(oauth.HTTPOptions{})
	var d *daemon.Daemon
	d, err = daemon.New(daemon.Config{
		Store:               st,
		Logger:              logger,
		HTTP:                httpc,
		ClientIDMetadataURL: cimdURL,
		LoginTimeout:        30 * time.Second,
		OpenBrowser:         noRedirectBrowser(ctx, httpc, func() *daemon.Daemon { return d }),
		Version:             "conformance",
	})
	if err != nil {
		return err
	}
	defer d.Close()
	self := ipc.Peer{UID: os.Getuid(), PID: os.Getpid()}
	if gc := grantConfig(scenario, &sc); gc != nil {
		if err := d.SetGrant(serverURL, gc); err != nil {
			return fmt.Errorf("grant: %w", err)
		}
		if _, err := d.Login(ctx, &ipc.LoginRequest{URL: serverURL, Wait: true}); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	} else if sc.ClientID != "" {
		if _, err := d.Login(ctx, &ipc.LoginRequest{URL: serverURL, ClientID: sc.ClientID, ClientSecret: sc.ClientSecret, ClientIssuer: sc.Issuer, Wait: true}); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpauthd-conformance", Version: "0"}, nil)
	transport := &mcp.StreamableClientTransport{
		Endpoint: serverURL,
		HTTPClient: &http.Client{Transport: &oauth.Transport{
			Base:      httpc.Transport,
			Source:    d.AppSource(serverURL, self), // the hand-out, DPoP proofs and challenge path every proxy takes
			ServerURL: serverURL,
		}},
	}
	cs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if strings.HasPrefix(scenario, "auth/") || scenario == "" {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test-tool", Arguments: map[string]any{}}); err != nil {
			return fmt.Errorf("tools/call: %w", err)
		}
	}
	return nil
}

// noRedirectBrowser stands in for the user's browser: it opens the
// sign-in's start link (in-process, through the daemon's loopback handler:
// the adapter opens no listener), which forwards to the authorization
// request; the suite's authorization endpoint answers with a redirect
// straight away, and its Location is the URL the real browser would have
// landed on. It hands that URL to Daemon.Complete, as a URL pasted into
// `mcpauthd login --no-browser` is.
func noRedirectBrowser(ctx context.Context, base *http.Client, d func() *daemon.Daemon) func(string) error {
	c := *base
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return func(startLink string) error {
		start := httptest.NewRecorder()
		d().Handler().ServeHTTP(start, httptest.NewRequestWithContext(ctx, http.MethodGet, startLink, nil))
		authURL := start.Header().Get("Location")
		if start.Code != http.StatusFound || authURL == "" {
			return fmt.Errorf("the sign-in's start link answered %d without a redirect", start.Code)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
		if err != nil {
			return err
		}
		res, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("authorization endpoint: %w", err)
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if loc == "" {
			return fmt.Errorf("authorization endpoint answered %s without a redirect", res.Status)
		}
		go func() { _, _ = d().Complete(ctx, loc) }()
		return nil
	}
}
