//lint:file-ignore SA1019 request-metadata checks that the client declares roots and sampling (deprecated in 2026-07-28, still in its capabilities), so the app offers them

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The client scenarios that are not about authorization run through the
// stdio proxy: the adapter plays an app (the Go SDK's mcp.Client over a
// CommandTransport) that starts the real `mcpauthd proxy URL` — the binary
// in $MCPAUTHD_BIN, else the mcpauthd beside the adapter — with a daemon of
// its own (a throwaway runtime, data, config and state directory, the file
// secret backend, port 0 for both listeners), and does what the scenario
// asks of a client. What the suite checks is then what the proxy puts on
// the wire: headers, _meta, retries and the relay of the server's
// requests.

// appVersion is the protocol version the app speaks in scenario: the
// version the scenario's server was written for (2025-11-25 for the
// scenarios removed in 2026-07-28, 2026-07-28 for those introduced in it).
func appVersion(scenario string) string {
	switch scenario {
	case "initialize", "tools_call", "elicitation-sep1034-client-defaults", "sse-retry", "json-schema-2020-12-preservation":
		return "2025-11-25"
	}
	return "2026-07-28"
}

// proxyContext is the part of MCP_CONFORMANCE_CONTEXT the non-auth
// scenarios use: the tool calls to make (http-custom-headers).
type proxyContext struct {
	ToolCalls []struct {
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"`
	} `json:"toolCalls"`
}

// runThroughProxy plays scenario's client through `mcpauthd proxy
// serverURL`.
func runThroughProxy(ctx context.Context, logger *slog.Logger, serverURL, scenario, rawCtx string) error {
	var pc proxyContext
	if rawCtx != "" {
		if err := json.Unmarshal([]byte(rawCtx), &pc); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}
	bin, err := mcpauthdBinary()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mcpauthd-conformance-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := append(os.Environ(),
		"MCPAUTH_SOCK="+filepath.Join(dir, "run", "mcpauthd.sock"),
		"XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_STATE_HOME="+filepath.Join(dir, "state"),
		"MCPAUTH_SECRET_BACKEND=file",
		"MCPAUTH_CALLBACK_ADDR=127.0.0.1:0",
		"MCPAUTH_APPS_ADDR=127.0.0.1:0",
		"MCPAUTH_LOG_LEVEL=debug",
	)
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o700); err != nil {
		return err
	}
	defer stopDaemon(bin, env, logger)

	cmd := exec.Command(bin, "proxy", serverURL, "--debug")
	cmd.Env = env
	cmd.Stderr = os.Stderr // the suite keeps it in stderr.txt
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpauthd-conformance-app", Version: "0"}, &mcp.ClientOptions{
		Capabilities:         &mcp.ClientCapabilities{RootsV2: &mcp.RootCapabilities{ListChanged: true}},
		ElicitationHandler:   acceptWithDefaults,
		CreateMessageHandler: sample,
	})
	client.AddRoots(&mcp.Root{URI: "file:///tmp/mcpauthd-conformance", Name: "conformance"})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, &mcp.ClientSessionOptions{ProtocolVersion: appVersion(scenario)})
	if err != nil {
		return fmt.Errorf("connect through mcpauthd proxy: %w", err)
	}
	defer cs.Close()
	return playApp(ctx, cs, scenario, &pc)
}

// playApp does what scenario asks of a client over cs.
func playApp(ctx context.Context, cs *mcp.ClientSession, scenario string, pc *proxyContext) error {
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if scenario == "initialize" || scenario == "json-schema-ref-no-deref" {
		return nil
	}
	if len(pc.ToolCalls) > 0 {
		for _, tc := range pc.ToolCalls {
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.Name, Arguments: tc.Arguments}); err != nil {
				return fmt.Errorf("tools/call %s: %w", tc.Name, err)
			}
		}
		return nil
	}
	var errs []error
	for _, tool := range tools.Tools {
		args := argumentsFor(tool, tools.Tools)
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool.Name, Arguments: args}); err != nil {
			errs = append(errs, fmt.Errorf("tools/call %s: %w", tool.Name, err))
		}
	}
	if scenario == "http-standard-headers" {
		errs = append(errs, readEverything(ctx, cs))
	}
	if scenario == "http-invalid-tool-headers" {
		return nil // the server refuses some calls on purpose
	}
	return errors.Join(errs...)
}

// readEverything lists and reads the resources and lists and gets the
// prompts (http-standard-headers checks their Mcp-Method and Mcp-Name).
func readEverything(ctx context.Context, cs *mcp.ClientSession) error {
	var errs []error
	if res, err := cs.ListResources(ctx, nil); err != nil {
		errs = append(errs, fmt.Errorf("resources/list: %w", err))
	} else {
		for _, r := range res.Resources {
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: r.URI}); err != nil {
				errs = append(errs, fmt.Errorf("resources/read: %w", err))
			}
		}
	}
	if res, err := cs.ListPrompts(ctx, nil); err != nil {
		errs = append(errs, fmt.Errorf("prompts/list: %w", err))
	} else {
		for _, p := range res.Prompts {
			args := map[string]string{}
			for _, a := range p.Arguments {
				args[a.Name] = "x"
			}
			if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: p.Name, Arguments: args}); err != nil {
				errs = append(errs, fmt.Errorf("prompts/get: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// argumentsFor makes arguments for tool from its input schema: the values
// tools_call asks for, a schema echoed back verbatim (a tool that takes a
// "schema" object is given another tool's input schema,
// json-schema-2020-12-preservation), and a placeholder of the right type
// for each other required property.
func argumentsFor(tool *mcp.Tool, all []*mcp.Tool) map[string]any {
	var schema struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	b, _ := json.Marshal(tool.InputSchema)
	_ = json.Unmarshal(b, &schema)
	args := map[string]any{}
	for _, name := range schema.Required {
		typ, _ := schema.Properties[name].Type.(string)
		switch {
		case name == "schema" && typ == "object":
			for _, other := range all {
				if other != tool {
					args[name] = other.InputSchema
					break
				}
			}
		case typ == "number" || typ == "integer":
			args[name] = 2
		case typ == "boolean":
			args[name] = true
		case typ == "object":
			args[name] = map[string]any{}
		case typ == "array":
			args[name] = []any{}
		default:
			args[name] = "x"
		}
	}
	return args
}

// acceptWithDefaults accepts every elicitation with each field's default
// (SEP-1034: a client fills in the defaults of fields the user left).
func acceptWithDefaults(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	var schema struct {
		Properties map[string]struct {
			Default any `json:"default"`
		} `json:"properties"`
	}
	b, _ := json.Marshal(req.Params.RequestedSchema)
	_ = json.Unmarshal(b, &schema)
	content := map[string]any{}
	for name, p := range schema.Properties {
		if p.Default != nil {
			content[name] = p.Default
		}
	}
	return &mcp.ElicitResult{Action: "accept", Content: content}, nil
}

// sample answers a sampling request with a fixed text.
func sample(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	return &mcp.CreateMessageResult{Role: "assistant", Model: "conformance", Content: &mcp.TextContent{Text: "sampled"}}, nil
}

// mcpauthdBinary is $MCPAUTHD_BIN, else the mcpauthd beside the adapter
// (scripts/conformance.sh builds both into bin/).
func mcpauthdBinary() (string, error) {
	if b := os.Getenv("MCPAUTHD_BIN"); b != "" {
		return b, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	b := filepath.Join(filepath.Dir(self), "mcpauthd")
	if _, err := os.Stat(b); err != nil {
		return "", fmt.Errorf("no mcpauthd beside the adapter (%s); set MCPAUTHD_BIN", b)
	}
	return b, nil
}

// stopDaemon stops the daemon the proxy started (bounded: a daemon that
// does not answer is left to its idle exit).
func stopDaemon(bin string, env []string, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "stop")
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		logger.Debug("stopping the daemon", "err", err, "output", strings.TrimSpace(out.String()))
	}
}

// throughProxy reports whether scenario runs through the proxy (every
// client scenario that is not about authorization).
func throughProxy(scenario string) bool {
	return scenario != "" && !strings.HasPrefix(scenario, "auth/")
}
