package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// describe asks the server itself (MCP initialize, tools/list) for its name
// and tools after a sign-in, with the daemon's token, and keeps them for
// display. Failure is logged, not fatal: the sign-in stands.
//
// What it keeps is bounded (internal/budget): each answer at
// budget.DescribeAnswer, the name at budget.ServerName, and of the tools a
// summary — the first budget.ToolsKept names and the count — read from at
// most budget.ToolPages pages, so a server that pages forever or sends huge
// names costs a bounded amount of memory, time and registry space.
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
		// server's origin, redirects included. Every answer is bounded.
		HTTPClient: &http.Client{
			Transport: budget.Answers(&oauth.Transport{
				Base:      oauth.PinOrigin(base, s.url),
				Source:    probeSource{oauth.SessionSource{S: s.sess, Margin: DefaultMinValid}},
				ServerURL: s.url,
			}, budget.DescribeAnswer, "MCP answer"),
			CheckRedirect: oauth.CheckRedirect,
		},
		MaxEventSize: budget.DescribeAnswer,
	}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		d.log.Warn("could not describe the server", "server", s.url, "err", err)
		return
	}
	defer cs.Close()
	tools := listTools(ctx, cs)
	if tools.err != nil {
		d.log.Warn("could not list tools", "server", s.url, "err", tools.err)
	} else if tools.more {
		d.log.Warn("the server lists more tools than mcpauthd reads; keeping a summary", "server", s.url,
			"tools_counted", tools.count, "max_pages", budget.ToolPages, "max_tools", budget.ToolsCounted)
	}
	s = s.primary() // what the server said is the server's, whichever account asked
	s.mu.Lock()
	rec := s.rec
	s.mu.Unlock()
	if res := cs.InitializeResult(); res != nil && res.ServerInfo != nil {
		info := keptInfo(res.ServerInfo)
		if rec.Name == "" {
			rec.Name = info.Title
			if rec.Name == "" {
				rec.Name = info.Name
			}
		}
		rec.ServerInfo, _ = json.Marshal(info)
	}
	rec.Tools, rec.ToolCount, rec.ToolsMore = tools.names, tools.count, tools.more
	if err := d.st.PutServer(&rec); err != nil {
		d.log.Warn("could not record the server's description", "server", s.url, "err", err)
		return
	}
	s.setRecord(rec)
}

// toolSummary is what describe keeps of a server's tool list.
type toolSummary struct {
	names []string // the first budget.ToolsKept, each cut at budget.ToolName
	count int      // tools listed, up to budget.ToolsCounted
	more  bool     // the server had more pages or tools than were read
	err   error    // a page could not be read; the summary holds the pages before it
}

// listTools pages through the server's tools/list within the budgets.
func listTools(ctx context.Context, cs *mcp.ClientSession) toolSummary {
	var sum toolSummary
	params := &mcp.ListToolsParams{}
	for page := 0; ; page++ {
		if page == budget.ToolPages || sum.count >= budget.ToolsCounted {
			sum.more = true
			return sum
		}
		res, err := cs.ListTools(ctx, params)
		if err != nil {
			sum.err = err
			return sum
		}
		for _, t := range res.Tools {
			if sum.count == budget.ToolsCounted {
				sum.more = true
				return sum
			}
			sum.count++
			if len(sum.names) < budget.ToolsKept {
				sum.names = append(sum.names, budget.Text(t.Name, budget.ToolName))
			}
		}
		if res.NextCursor == "" {
			return sum
		}
		params.Cursor = res.NextCursor
	}
}

// keptInfo is the part of a server's MCP serverInfo the registry keeps:
// the texts shown, each cut at budget.ServerName (icons, which may be
// megabytes of data: URIs, are not kept).
func keptInfo(in *mcp.Implementation) *mcp.Implementation {
	return &mcp.Implementation{
		Name:       budget.Text(in.Name, budget.ServerName),
		Title:      budget.Text(in.Title, budget.ServerName),
		Version:    budget.Text(in.Version, budget.ServerName),
		WebsiteURL: budget.Text(in.WebsiteURL, budget.ServerName),
	}
}

// probeSource is the session's own token source (DPoP proofs included,
// for a DPoP-bound token), except that a refusal is reported, not acted
// on: the describe step never starts a sign-in of its own.
type probeSource struct{ oauth.SessionSource }

func (p probeSource) Challenged(context.Context, string, *oauth.Challenge) error {
	return &oauth.Error{Step: "describe", Check: oauth.CheckAuthorization, URL: p.S.ServerURL, Msg: "the server refused the new token"}
}
