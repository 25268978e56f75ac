// Package browser opens URLs for the user: $BROWSER when set (a command given
// the URL as its one argument), else the platform's opener. Never through a
// shell, and only http and https URLs.
package browser

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// Open starts the user's browser on rawURL and returns once it is started:
// $BROWSER when set, else the OS opener.
func Open(rawURL string) error { return OpenWith(os.Getenv("BROWSER"), rawURL) }

// OpenWith is Open with the browser command given (the browser setting);
// "" means the OS opener.
func OpenWith(program, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("browser: refusing to open a URL that is not http(s)")
	}
	name, args := command(program, rawURL)
	cmd := exec.Command(name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("browser: cannot start %s: %w (set $BROWSER, or use --no-browser)", name, err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

func command(program, u string) (string, []string) {
	if b := strings.TrimSpace(program); b != "" {
		// $BROWSER may list alternatives separated by ':' (the historical
		// convention); the first is used, as one program, without a shell.
		first, _, _ := strings.Cut(b, string(os.PathListSeparator))
		return first, []string{u}
	}
	switch runtime.GOOS {
	case "darwin":
		return "open", []string{u}
	case "windows":
		return "rundll32", []string{"url.dll,FileProtocolHandler", u}
	default:
		return "xdg-open", []string{u}
	}
}
