package ipc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// ExampleClient_Token takes an access token from the running mcpauthd: the
// daemon refreshes it first when it would expire within the minute asked
// for, and records the hand-out in its audit log. A server nobody signed in
// to yet answers ipc.ErrNeedsSignIn, whose message names the command that
// signs in. To send requests with the daemon's tokens (DPoP proofs and
// sign-ins on the server's challenge included), give an oauth.Transport an
// ipcsource.Source.
func ExampleClient_Token() {
	// A real program dials the socket `mcpauthd status` prints:
	// $MCPAUTH_SOCK, else mcpauthd.sock in $XDG_RUNTIME_DIR/mcpauthd on Linux.
	socket, stop := startExampleDaemon()
	defer stop()
	c := ipc.NewClient(socket)
	ctx := context.Background()

	tok, err := c.Token(ctx, "https://mcp.example.com/mcp", time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Authorization:", tok.TokenType, tok.AccessToken)

	_, err = c.Token(ctx, "https://other.example.com/mcp", time.Minute)
	if errors.Is(err, ipc.ErrNeedsSignIn) {
		fmt.Println(err)
	}
	// Output:
	// Authorization: Bearer example-access-token
	// not signed in to https://other.example.com/mcp; run: mcpauthd login https://other.example.com/mcp
}

// startExampleDaemon answers /v1/token on a socket in a temporary directory
// as mcpauthd does, signed in to https://mcp.example.com/mcp only.
func startExampleDaemon() (socket string, stop func()) {
	dir, err := os.MkdirTemp("", "mcpauthd-example")
	if err != nil {
		panic(err)
	}
	socket = filepath.Join(dir, "mcpauthd.sock")
	l, err := ipc.Listen(socket)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/token", func(w http.ResponseWriter, r *http.Request) {
		var req ipc.TokenRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		if req.URL != "https://mcp.example.com/mcp" {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(&ipc.Error{Code: ipc.CodeNeedsSignIn, Message: "not signed in to " + req.URL, SignInURL: req.URL})
			return
		}
		_ = json.NewEncoder(w).Encode(&ipc.TokenResponse{AccessToken: "example-access-token", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)})
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	return socket, func() { srv.Close(); os.RemoveAll(dir) }
}
