package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// maxRecord builds a server record whose JSON is just under budget.Record,
// the largest a server can hold in the registry.
func maxRecord(t *testing.T, url string) *Server {
	t.Helper()
	srv := &Server{URL: url, Name: "big", Tools: []string{"a", "b"}, ToolCount: 2}
	base, err := json.Marshal(srv)
	if err != nil {
		t.Fatal(err)
	}
	// Room for the timestamps the store adds, and the field's own quotes.
	pad := budget.Record - len(base) - 200
	srv.StatusMessage = strings.Repeat("x", pad)
	return srv
}

// TestRecordBudget: a record over budget.Record is refused with an error
// naming the server and the limit, and what was stored before is intact.
func TestRecordBudget(t *testing.T) {
	s, _ := openStore(t, fileHarness(t))
	url := "https://big.example.com/mcp"
	ok := maxRecord(t, url)
	if err := s.PutServer(ok); err != nil {
		t.Fatalf("a record at the budget: %v", err)
	}
	over := *ok
	over.StatusMessage += strings.Repeat("y", 1000)
	err := s.PutServer(&over)
	var ex *budget.ExceededError
	if !errors.As(err, &ex) || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), budget.Size(budget.Record)) {
		t.Fatalf("over budget: err = %v, want an ExceededError naming %s and %s", err, url, budget.Size(budget.Record))
	}
	if err := s.CommitLogin(&over, sampleTokens(100)); !errors.As(err, &ex) {
		t.Fatalf("CommitLogin over budget: %v", err)
	}
	got, err := s.GetServer(url)
	if err != nil || got.StatusMessage != ok.StatusMessage {
		t.Fatalf("the stored record changed: %v", err)
	}
	if _, err := s.GetTokens(url); err == nil {
		t.Error("CommitLogin stored the tokens of a refused record")
	}
}

// registryCycles is how many add/remove cycles TestRegistryDoesNotGrow runs.
const registryCycles = 30

// maxRegistryFile is the bound on the registry file after any number of
// add/remove cycles of a largest-possible server: bbolt reuses the pages a
// deleted record freed, so the file holds at most the live record, the
// pages of the previous transaction not yet released, and the metadata.
const maxRegistryFile = 3*budget.Record + 1<<20

// TestRegistryDoesNotGrow adds and removes a server with a record at the
// budget (with tokens) many times, through reopens as a daemon restarts,
// and checks that the file stops growing: bbolt never shrinks a file, but
// it reuses freed pages, so the size after the first cycles is where it
// stays. No compaction is needed for that.
func TestRegistryDoesNotGrow(t *testing.T) {
	h := fileHarness(t)
	s, path := openStore(t, h)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var after3 int64
	peak := int64(0)
	for i := range registryCycles {
		// A new URL each time, as a user adding and removing servers.
		url := fmt.Sprintf("https://s%d.example.com/mcp", i)
		if err := s.CommitLogin(maxRecord(t, url), sampleTokens(20<<10)); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteServer(url); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			s.Close()
			s = reopen(t, h, path)
		}
		peak = max(peak, size())
		if i == 2 {
			after3 = size()
		}
	}
	s.Close()
	t.Logf("registry file: %d bytes after 3 cycles, %d after %d (record budget %d, bound %d)", after3, size(), registryCycles, budget.Record, maxRegistryFile)
	if peak > maxRegistryFile {
		t.Errorf("registry file reached %d bytes, over the bound %d", peak, maxRegistryFile)
	}
	if size() > after3 {
		t.Errorf("registry file grew from %d to %d bytes over %d more add/remove cycles", after3, size(), registryCycles-3)
	}
}
