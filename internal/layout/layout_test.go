// Package layout holds the test that keeps the package picture of
// DESIGN.md true: clients (cli, tray) reach the daemon only through ipc,
// the engine and the store know nothing of each other or of the daemon.
package layout

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/mcpauthd/mcpauthd"

// forbidden maps a package (prefix match below the module) to the project
// packages it must not import directly.
var forbidden = map[string][]string{
	"ipc":           {"daemon", "store", "oauth", "cli", "tray", "internal"},
	"ipc/ipcserver": {"store", "oauth", "cli", "tray"},
	"cli":           {"daemon", "store", "oauth", "tray", "ipc/ipcserver"},
	"tray":          {"daemon", "store", "oauth", "cli", "ipc/ipcserver", "internal"},
	"assets":        {"daemon", "store", "oauth", "ipc", "cli", "tray", "internal"},
	"oauth":         {"daemon", "store", "ipc", "cli", "tray"},
	"store":         {"daemon", "oauth", "ipc", "cli", "tray"},
	"daemon":        {"ipc/ipcserver", "cli", "tray"},
	"proxy":         {"daemon", "store", "cli", "tray", "ipc/ipcserver"},
	"ipc/ipcsource": {"daemon", "store", "cli", "tray", "ipc/ipcserver"},
	"revproxy":      {"daemon", "store", "cli", "tray", "ipc/ipcserver"}, // runs in the daemon, through the Apps interface

	"webui":          {"store", "oauth", "cli", "tray", "ipc/ipcserver"},
	"webui/webentry": {"daemon", "store", "oauth", "ipc", "cli", "tray", "internal"},

	// Leaves every layer uses: they import nothing of the project.
	"sanitize":        {"daemon", "store", "oauth", "ipc", "cli", "tray", "internal", "proxy", "revproxy", "webui", "assets"},
	"toolpolicy":      {"daemon", "store", "oauth", "ipc", "cli", "tray", "internal", "proxy", "revproxy", "webui", "assets", "sanitize"},
	"internal/budget": {"daemon", "store", "oauth", "ipc", "cli", "tray", "proxy", "revproxy", "webui", "assets", "sanitize"},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		rules, ok := forbidden[rel]
		if !ok {
			continue
		}
		seen++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod+"/") {
				continue
			}
			irel := strings.TrimPrefix(imp, mod+"/")
			for _, f := range rules {
				if irel == f || strings.HasPrefix(irel, f+"/") {
					t.Errorf("%s imports %s, which DESIGN.md's package table forbids", rel, irel)
				}
			}
		}
	}
	if seen < 6 {
		t.Fatalf("checked only %d packages; is the module layout as expected?", seen)
	}
}
