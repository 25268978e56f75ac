package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestBridgeResourceSubscription: an app older than 2026-07-28 subscribes
// to a resource of a Go SDK v1.8.0 server that speaks only 2026-07-28
// (which has no resources/subscribe, only subscriptions/listen with
// resourceSubscriptions): the app hears the server's update, and its
// unsubscribe ends the server's subscription.
func TestBridgeResourceSubscription(t *testing.T) {
	subscribed, unsubscribed := make(chan string, 4), make(chan string, 4)
	srv := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "0"}, &mcp.ServerOptions{
		SupportedProtocolVersions: []string{"2026-07-28"},
		SubscribeHandler: func(_ context.Context, req *mcp.SubscribeRequest) error {
			subscribed <- req.Params.URI
			return nil
		},
		UnsubscribeHandler: func(_ context.Context, req *mcp.UnsubscribeRequest) error {
			unsubscribed <- req.Params.URI
			return nil
		},
	})
	srv.AddResource(&mcp.Resource{URI: "file:///notes.txt", Name: "notes"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "file:///notes.txt", Text: "notes"}}}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)

	app, done := startProxy(t, Config{URL: ts.URL, Source: &source{tok: "good"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound on a hang
	defer cancel()
	updated := make(chan string, 4)
	c := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updated <- req.Params.URI },
	})
	cs, err := c.Connect(ctx, app, &mcp.ClientSessionOptions{ProtocolVersion: "2025-06-18"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatalf("resources/subscribe: %v", err)
	}
	if got := wait(t, subscribed, "the server's subscription"); got != "file:///notes.txt" {
		t.Fatalf("the server subscribed %q", got)
	}
	// A second subscribe to the same resource opens no second stream.
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatalf("resources/subscribe again: %v", err)
	}
	if err := srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, updated, "notifications/resources/updated"); got != "file:///notes.txt" {
		t.Fatalf("the app heard of %q", got)
	}
	if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "file:///notes.txt"}); err != nil {
		t.Fatalf("resources/unsubscribe: %v", err)
	}
	if got := wait(t, unsubscribed, "the server's unsubscription"); got != "file:///notes.txt" {
		t.Fatalf("the server unsubscribed %q", got)
	}
	if len(subscribed) != 0 {
		t.Errorf("the server saw %d more subscriptions; want one stream per resource", len(subscribed))
	}
	// The session still works.
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///notes.txt"}); err != nil {
		t.Errorf("resources/read: %v", err)
	}
	cs.Close()
	if err := waitDone(t, done); err != nil {
		t.Error(err)
	}
}

// wait returns the next value of ch, failing t when none comes in 10 s (a
// bound on a hang, not a timing assertion).
func wait(t *testing.T, ch <-chan string, what string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not come", what)
		return ""
	}
}
