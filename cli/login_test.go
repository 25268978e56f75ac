package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/internal/paths"
	"github.com/mcpauthd/mcpauthd/ipc"
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
