package tray

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// The clipboard goes through the platform's own tools (wl-copy/wl-paste,
// xclip or xsel, pbcopy/pbpaste, clip/PowerShell): the Go clipboard
// libraries need cgo on Linux. Text to copy travels on the tool's stdin,
// never in its argv, so a copied token is not visible in the process list.

// clipTool is a pair of commands: copy reads the text on stdin, paste
// writes the clipboard's text on stdout.
type clipTool struct {
	copy, paste []string
}

var errNoClipboard = errors.New("no clipboard tool: install wl-clipboard (Wayland) or xclip (X11)")

// clipboard returns this session's clipboard tool.
func clipboard() (clipTool, error) {
	has := func(name string) bool { _, err := exec.LookPath(name); return err == nil }
	switch runtime.GOOS {
	case "darwin":
		return clipTool{[]string{"pbcopy"}, []string{"pbpaste"}}, nil
	case "windows":
		return clipTool{[]string{"clip"}, []string{"powershell", "-NoProfile", "-NonInteractive", "-Command", "Get-Clipboard -Raw"}}, nil
	}
	if os.Getenv("WAYLAND_DISPLAY") != "" && has("wl-copy") && has("wl-paste") {
		return clipTool{[]string{"wl-copy"}, []string{"wl-paste", "--no-newline"}}, nil
	}
	if os.Getenv("DISPLAY") != "" {
		if has("xclip") {
			return clipTool{[]string{"xclip", "-selection", "clipboard", "-in"}, []string{"xclip", "-selection", "clipboard", "-out"}}, nil
		}
		if has("xsel") {
			return clipTool{[]string{"xsel", "--clipboard", "--input"}, []string{"xsel", "--clipboard", "--output"}}, nil
		}
	}
	return clipTool{}, errNoClipboard
}

// copyText puts text on the clipboard. The error names the tool, never the
// text.
func copyText(ctx context.Context, text string) error {
	t, err := clipboard()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, t.copy[0], t.copy[1:]...)
	cmd.Stdin = strings.NewReader(text)
	// Stdout and stderr stay unset (/dev/null): xclip and wl-copy leave a
	// child behind that serves the clipboard, and a pipe would make Run
	// wait for it.
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("copying to the clipboard with %s: %w", t.copy[0], err)
	}
	return nil
}

// pasteText returns the clipboard's text (at most 64 KiB of it).
func pasteText(ctx context.Context) (string, error) {
	t, err := clipboard()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, t.paste[0], t.paste[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &limitedWriter{w: &out, n: 64 << 10}
	if err := cmd.Run(); err != nil {
		// An empty clipboard is an error for xclip and wl-paste.
		return "", fmt.Errorf("reading the clipboard with %s: %w", t.paste[0], err)
	}
	return out.String(), nil
}

// limitedWriter keeps the first n bytes and discards the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if k := min(len(p), l.n); k > 0 {
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
		l.n -= k
	}
	return len(p), nil
}
