// Command conformance is the adapter the official MCP conformance suite runs
// against mcpauthd's authorization engine: once per scenario, with the server
// URL as its last argument and the scenario in MCP_CONFORMANCE_SCENARIO.
//
// It signs in through the same Flow and Session the daemon uses, and talks
// MCP with the Go SDK's client over oauth.Transport. Only the browser is
// replaced: the suite's authorization endpoint redirects at once, so a GET
// that does not follow the redirect yields the redirect URL to complete.
//
//	go build -o bin/conformance-adapter ./internal/conformance
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/oauth"
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
	if err := run(ctx, logger, serverURL, scenario, os.Getenv("MCP_CONFORMANCE_CONTEXT")); err != nil {
		logger.Error("scenario failed", "scenario", scenario, "err", err)
		os.Exit(1)
	}
}

// scenarioContext is the part of MCP_CONFORMANCE_CONTEXT the auth scenarios use.
type scenarioContext struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Issuer       string `json:"issuer"`
}

func run(ctx context.Context, logger *slog.Logger, serverURL, scenario, rawCtx string) error {
	var sc scenarioContext
	if rawCtx != "" {
		if err := json.Unmarshal([]byte(rawCtx), &sc); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}
	httpc := oauth.NewHTTPClient(oauth.HTTPOptions{})
	flow := &oauth.Flow{
		HTTP: httpc,
		Client: oauth.ClientConfig{
			RedirectURIs:        []string{"http://127.0.0.1:8739/callback"},
			ClientName:          "mcpauthd",
			ClientIDMetadataURL: cimdURL,
		},
		Registrations: &memRegistrations{m: map[string]*oauth.Registration{}},
		WantRefresh:   true,
		Logger:        logger,
	}
	sess := oauth.NewSession(flow, serverURL, nil)
	sess.Browser = noRedirectBrowser(httpc)
	if sc.ClientID != "" {
		sess.Preregistered = &oauth.Registration{ClientID: sc.ClientID, ClientSecret: sc.ClientSecret, Issuer: sc.Issuer}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpauthd-conformance", Version: "0"}, nil)
	transport := &mcp.StreamableClientTransport{
		Endpoint: serverURL,
		HTTPClient: &http.Client{Transport: &oauth.Transport{
			Base:      httpc.Transport,
			Source:    oauth.SessionSource{S: sess, Margin: 30 * time.Second},
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

// noRedirectBrowser stands in for the user's browser: the suite's
// authorization endpoint answers with a redirect straight away, and its
// Location is the URL the real browser would have landed on.
func noRedirectBrowser(base *http.Client) oauth.Browser {
	c := *base
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return func(ctx context.Context, a *oauth.Authorization) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
		if err != nil {
			return "", err
		}
		res, err := c.Do(req)
		if err != nil {
			return "", fmt.Errorf("authorization endpoint: %w", err)
		}
		defer res.Body.Close()
		loc := res.Header.Get("Location")
		if loc == "" {
			return "", fmt.Errorf("authorization endpoint answered %s without a redirect", res.Status)
		}
		return loc, nil
	}
}

// memRegistrations keeps registrations for the life of one scenario.
type memRegistrations struct {
	mu sync.Mutex
	m  map[string]*oauth.Registration
}

func (r *memRegistrations) LoadRegistration(_ context.Context, issuer string) (*oauth.Registration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[issuer], nil
}

func (r *memRegistrations) SaveRegistration(_ context.Context, reg *oauth.Registration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[reg.Issuer] = reg
	return nil
}

func (r *memRegistrations) DropRegistration(_ context.Context, issuer string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, issuer)
	return nil
}
