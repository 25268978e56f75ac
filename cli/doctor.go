package cli

import (
	"context"
	"fmt"

	"github.com/mcpauthd/mcpauthd/sanitize"
)

func init() {
	register(command{"doctor", "URL [--json]", "explain what signing in to URL needs, and where it would fail (signs nothing in)", runDoctor})
}

// doctorMarks prefix each step of the human report.
var doctorMarks = map[string]string{"ok": "ok  ", "info": "    ", "warn": "warn", "fail": "FAIL"}

// runDoctor is `mcpauthd doctor URL`: the daemon probes URL without signing
// in and reports each step. It exits 1 when a step fails.
func runDoctor(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "doctor", "URL [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	r, err := c.Doctor(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		if err := e.printJSON(r); err != nil {
			return err
		}
	} else {
		// The details quote what servers sent (URLs, error descriptions).
		fmt.Fprintf(e.Stdout, "Signing in to %s:\n", sanitize.Terminal(r.URL))
		for _, s := range r.Steps {
			fmt.Fprintf(e.Stdout, "  %s  %-30s %s\n", doctorMarks[s.Outcome], sanitize.Terminal(s.Step), sanitize.Text(s.Detail, sanitize.ErrorLen))
		}
		if !r.Failed {
			fmt.Fprintln(e.Stdout, "Nothing stands in the way of a sign-in: mcpauthd login "+sanitize.Terminal(r.URL))
		}
	}
	if r.Failed {
		return &ExitError{Code: 1, Err: fmt.Errorf("a sign-in to %s would fail", r.URL)}
	}
	return nil
}
