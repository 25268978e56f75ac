package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/internal/paths"
	"github.com/mcpauthd/mcpauthd/internal/settings"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/spf13/pflag"
)

// TestLoginMalformedAnswer: a daemon whose sign-in answers carry no server
// is a clear error for login, not a crash.
func TestLoginMalformedAnswer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "mcpauthd.sock")
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{}`) })
	mux.HandleFunc("POST /v1/login", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"id":"1"}`) })
	mux.HandleFunc("POST /v1/login/wait", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"id":"1"}`) })
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	var stdout, stderr bytes.Buffer
	e := &Env{Paths: paths.Paths{Socket: sock}, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, NoAutostart: true}
	err = Run(context.Background(), e, []string{"login", "https://mcp.example.com/mcp"})
	if err == nil || !strings.Contains(err.Error(), "names no server") {
		t.Fatalf("login against a daemon answering without a server: %v (stdout %q)", err, stdout.String())
	}
}

// TestEnterpriseFlags: `login URL --enterprise` without a token file is the
// company sign-in (IdPSession), its IdP from the flags or else from the
// idp_* settings (what an IT department ships), and mcpauthd's client id at
// the server defaults to the IdP's; without an IdP from either it is a
// usage error; with --id-token-file it is the token exchange alone.
func TestEnterpriseFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(file, []byte("idp_issuer = \"https://acme.okta.com\"\nidp_client_id = \"0oa-fleet\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fleet, err := settings.Load(file, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	parse := func(set *settings.Settings, args ...string) (*ipc.GrantConfig, error) {
		fs := pflag.NewFlagSet("login", pflag.ContinueOnError)
		g := addGrantFlags(fs)
		clientID := fs.String("client-id", "", "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return g.config(*clientID, "", set)
	}
	c, err := parse(fleet, "--enterprise")
	if err != nil || !c.IdPSession || c.IdPIssuer != "https://acme.okta.com" || c.IdPClientID != "0oa-fleet" || c.ClientID != "0oa-fleet" || c.IDToken != "" {
		t.Fatalf("--enterprise with the fleet's settings: %+v %v", c, err)
	}
	c, err = parse(fleet, "--enterprise", "--idp-issuer", "https://idp.example", "--idp-client-id", "mine", "--client-id", "at-as")
	if err != nil || c.IdPIssuer != "https://idp.example" || c.IdPClientID != "mine" || c.ClientID != "at-as" {
		t.Fatalf("flags over settings: %+v %v", c, err)
	}
	var ee *ExitError
	if _, err := parse(nil, "--enterprise"); !errors.As(err, &ee) || ee.Code != 2 || !strings.Contains(err.Error(), "idp_issuer") {
		t.Fatalf("--enterprise with no IdP anywhere: %v; want a usage error naming the settings", err)
	}
	tokFile := filepath.Join(dir, "id_token")
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("k"))
	if err := os.WriteFile(tokFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = parse(fleet, "--enterprise", "--client-id", "robot", "--id-token-file", tokFile)
	if err != nil || c.IdPSession || c.IDToken != tok {
		t.Fatalf("--id-token-file: %+v %v; want the token exchange alone", c.IdPSession, err)
	}
}
