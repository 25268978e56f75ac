// Command floorclient is the floor for `mcpauthd token` as a whole process:
// a bare Go binary that makes the same one request over the socket and
// prints the token. It does nothing else (no flags, no autostart).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	sock, url := os.Getenv("MCPAUTH_SOCK"), os.Args[1]
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	res, err := c.Post("http://mcpauthd/v1/token", "application/json", strings.NewReader(`{"url":"`+url+`"}`))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer res.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &t)
	fmt.Println(t.AccessToken)
}
