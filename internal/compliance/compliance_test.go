// Package compliance checks docs/compliance.md, the matrix from the MCP
// authorization spec's requirements to the code and the proofs: it must not
// name code, tests or conformance scenarios that do not exist, and a row
// without a proof must be a listed gap.
package compliance

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// testDirs maps the package names used in proofs to their directories.
var testDirs = map[string]string{"oauth": "oauth", "e2e": "internal/e2e", "daemon": "daemon", "store": "store", "cli": "cli"}

var (
	codeRef  = regexp.MustCompile("`([a-z/]+\\.go):([A-Za-z0-9_]+)`")
	testRef  = regexp.MustCompile("`([a-z0-9]+)\\.(Test[A-Za-z0-9_]+)`")
	scenario = regexp.MustCompile("scenario `(auth/[a-z0-9-]+)`")
)

func TestMatrix(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(), "docs", "compliance.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	table, gaps, ok := strings.Cut(doc, "## Gaps")
	if !ok {
		t.Fatal("docs/compliance.md has no Gaps section")
	}
	suite := suiteText(t)
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 7 || !regexp.MustCompile(`^\s*\d+\s*$`).MatchString(cells[1]) {
			continue
		}
		rows++
		num, code, proof := strings.TrimSpace(cells[1]), cells[4], cells[5]
		for _, m := range codeRef.FindAllStringSubmatch(code, -1) {
			src, err := os.ReadFile(filepath.Join(root(), m[1]))
			if err != nil {
				t.Errorf("row %s: %s: %v", num, m[1], err)
				continue
			}
			decl := regexp.MustCompile(`(?m)^(func (\([^)]*\) )?` + m[2] + `\(|type ` + m[2] + ` )`)
			if !decl.Match(src) {
				t.Errorf("row %s: %s declares no function, method or type %s", num, m[1], m[2])
			}
		}
		tests := testRef.FindAllStringSubmatch(proof, -1)
		for _, m := range tests {
			dir, known := testDirs[m[1]]
			if !known {
				t.Errorf("row %s: unknown package %q", num, m[1])
				continue
			}
			if !declaresTest(t, filepath.Join(root(), dir), m[2]) {
				t.Errorf("row %s: %s has no %s", num, dir, m[2])
			}
		}
		scenarios := scenario.FindAllStringSubmatch(proof, -1)
		for _, m := range scenarios {
			if suite != nil && !suite[m[1]] {
				t.Errorf("row %s: the installed conformance suite has no scenario %s", num, m[1])
			}
		}
		if len(tests)+len(scenarios) == 0 {
			if !strings.Contains(proof, "gap") || !strings.Contains(gaps, "Row "+num+":") {
				t.Errorf("row %s has no proof and is not listed under Gaps", num)
			}
		}
	}
	if rows < 30 {
		t.Errorf("%d rows read; the table's format changed?", rows)
	}
}

func declaresTest(t *testing.T, dir, name string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "\nfunc "+name+"(t *testing.T)") {
			return true
		}
	}
	return false
}

// suiteScenario finds the scenario names in the suite's code (name=`…`)
// and requirement lists (- … or scenario: …).
var suiteScenario = regexp.MustCompile("(?:name=`|- |scenario: )(auth/[a-z0-9-]+)[`\n]")

// suiteText is the set of scenario names of the installed conformance
// suite (nil when it is not installed, which fails under CI).
func suiteText(t *testing.T) map[string]bool {
	dir := filepath.Join(root(), "tools", "node_modules", "@modelcontextprotocol", "conformance")
	files, _ := filepath.Glob(filepath.Join(dir, "requirements", "*.yaml"))
	var all strings.Builder
	for _, f := range append([]string{filepath.Join(dir, "dist", "index.js")}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the conformance suite is not installed: %v", err)
			}
			t.Logf("the conformance suite is not installed; scenario names not checked: %v", err)
			return nil
		}
		all.Write(b)
		all.WriteString("\n")
	}
	names := map[string]bool{}
	for _, m := range suiteScenario.FindAllStringSubmatch(all.String(), -1) {
		names[m[1]] = true
	}
	return names
}
