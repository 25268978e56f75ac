//go:build linux || darwin

package autostart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	"github.com/mcpauthd/mcpauthd/internal/atomicfile"
)

// writeFile makes path hold content (mode 0644, parents 0755), atomically,
// and reports whether it changed anything.
func (o Options) writeFile(path string, content []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
		o.logf("%s is up to date", path)
		return false, nil
	}
	if err := atomicfile.Write(path, content, 0o644, 0o755); err != nil {
		return false, err
	}
	o.logf("wrote %s", path)
	return true, nil
}

// removeFile removes path and reports whether there was one.
func (o Options) removeFile(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	o.logf("removed %s", path)
	return true, nil
}

// run runs a command (found in PATH) and logs it; the error quotes the
// first line of its output.
func (o Options) run(ctx context.Context, name string, args ...string) error {
	if err := probe(ctx, name, args...); err != nil {
		return err
	}
	o.logf("ran %s %s", name, strings.Join(args, " "))
	return nil
}

// probe runs a command that only asks a question: nil means yes. It logs
// nothing; the error quotes the first line of the command's output.
func probe(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w%s", name, strings.Join(args, " "), err, firstLine(out))
	}
	return nil
}

func firstLine(out []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
