package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// describe asks the server itself (MCP initialize, tools/list) for its name
// and tools after a sign-in, with the daemon's token, and keeps them for
// display. Failure is logged, not fatal: the sign-in stands.
func (d *Daemon) describe(s *server) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpauthd", Version: d.cfg.Version}, nil)
	base := d.cfg.HTTP.Transport
	if base == nil {
		base = oauth.NewTransport(oauth.HTTPOptions{})
	}
	tr := &mcp.StreamableClientTransport{
		Endpoint: s.url,
		// The network policy: the messages, and the token, stay on the
		// server's origin, redirects included.
		HTTPClient: &http.Client{
			Transport: &oauth.Transport{
				Base:      oauth.PinOrigin(base, s.url),
				Source:    probeSource{oauth.SessionSource{S: s.sess, Margin: DefaultMinValid}},
				ServerURL: s.url,
			},
			CheckRedirect: oauth.CheckRedirect,
		},
	}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		d.log.Warn("could not describe the server", "server", s.url, "err", err)
		return
	}
	defer cs.Close()
	var tools []string
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			d.log.Warn("could not list tools", "server", s.url, "err", err)
			break
		}
		tools = append(tools, t.Name)
	}
	s.mu.Lock()
	rec := s.rec
	s.mu.Unlock()
	if res := cs.InitializeResult(); res != nil && res.ServerInfo != nil {
		if rec.Name == "" {
			rec.Name = res.ServerInfo.Title
			if rec.Name == "" {
				rec.Name = res.ServerInfo.Name
			}
		}
		rec.ServerInfo, _ = json.Marshal(res.ServerInfo)
	}
	rec.Tools = tools
	if err := d.st.PutServer(&rec); err != nil {
		d.log.Warn("could not record the server's description", "server", s.url, "err", err)
		return
	}
	s.setRecord(rec)
}

// probeSource is the session's own token source (DPoP proofs included,
// for a DPoP-bound token), except that a refusal is reported, not acted
// on: the describe step never starts a sign-in of its own.
type probeSource struct{ oauth.SessionSource }

func (p probeSource) Challenged(context.Context, string, *oauth.Challenge) error {
	return &oauth.Error{Step: "describe", Check: oauth.CheckAuthorization, URL: p.S.ServerURL, Msg: "the server refused the new token"}
}
