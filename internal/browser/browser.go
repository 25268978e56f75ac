// Package browser opens URLs for the user without putting them on any
// command line. Every local user can read every process's arguments
// (/proc/PID/cmdline), so a URL that carries a ticket or a sign-in's
// parameters must not be handed to the browser as an argument. Instead, as
// Jupyter does, Open writes a small redirect page (a meta refresh and a
// link) into a private directory (0700, ours) as a 0600 file, and hands the
// browser only that file's file:// URL, which tells another user nothing.
//
// The browser is Opener.Program when set (the browser setting or $BROWSER: a
// command given the file URL as its one argument), else the platform's
// opener. Never through a shell, and only http and https URLs are
// forwarded.
package browser

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// DefaultKeep is how long a redirect page stays before it is removed: long
// enough for a browser that is still starting up to read it.
const DefaultKeep = 2 * time.Minute

const (
	pagePrefix = "open-"
	pageSuffix = ".html"
)

// Opener opens URLs through redirect pages in Dir. The zero Keep is
// DefaultKeep. An Opener is safe for concurrent use.
type Opener struct {
	// Dir holds the redirect pages. Open creates it (0700) when missing and
	// refuses it when it is not a directory we own that only we can use,
	// or when its parent is not ours or is writable by others.
	Dir string
	// Program is the browser command (the browser setting, $BROWSER by
	// default): one program, given the page's file:// URL as its one
	// argument, never through a shell. "" means the OS opener.
	Program string
	Keep    time.Duration
}

// New is the Opener of one mcpauthd instance with the browser command
// program: its pages live in "browser" under runtimeDir (the per-user
// runtime directory, paths.Paths.Runtime), which every caller (daemon, CLI,
// tray) shares.
func New(runtimeDir, program string) *Opener {
	return &Opener{Dir: filepath.Join(runtimeDir, "browser"), Program: program}
}

func (o *Opener) keep() time.Duration {
	if o.Keep > 0 {
		return o.Keep
	}
	return DefaultKeep
}

// Open writes a redirect page to rawURL (which must be http or https) and
// starts the user's browser on the page's file:// URL; it returns once the
// browser is started (or has failed: a command that exits with an error
// within EarlyExit is reported). The page is removed after Keep when this process
// lives that long, and by the next Open or Sweep after that otherwise.
func (o *Opener) Open(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("browser: refusing to open a URL that is not http(s)")
	}
	page, err := o.writePage(u.String())
	if err != nil {
		return err
	}
	_ = o.Sweep()
	time.AfterFunc(o.keep(), func() { _ = os.Remove(page) })
	name, args := command(o.Program, fileURL(page))
	cmd := exec.Command(name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		_ = os.Remove(page)
		return fmt.Errorf("browser: cannot start %s: %w (set the browser setting or $BROWSER, or use --no-browser)", name, err)
	}
	// An opener that cannot do its work (xdg-open with no browser
	// configured, a $BROWSER that fails) exits at once with an error; one
	// that works either exits 0 or keeps running (the browser itself).
	// Wait that long, no longer, so the user hears of a failure now rather
	// than after the sign-in's timeout.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("browser: %s failed: %w (set the browser setting or $BROWSER, or use --no-browser)", name, err)
		}
	case <-time.After(EarlyExit):
	}
	return nil
}

// EarlyExit is how long Open waits for the browser command to fail before
// it takes the browser as started.
var EarlyExit = 1500 * time.Millisecond

// Sweep removes the redirect pages older than Keep (left by a process that
// ended before it could remove its own). A missing Dir is not an error.
func (o *Opener) Sweep() error {
	entries, err := os.ReadDir(o.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := o.checkDir(); err != nil {
		return err
	}
	cutoff := time.Now().Add(-o.keep())
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), pagePrefix) || !strings.HasSuffix(e.Name(), pageSuffix) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(o.Dir, e.Name()))
		}
	}
	return nil
}

// writePage creates a fresh 0600 redirect page to target in the checked
// directory and returns its path.
func (o *Opener) writePage(target string) (string, error) {
	if err := o.prepareDir(); err != nil {
		return "", err
	}
	// The directory is opened once and the page created relative to it, so
	// what was checked is where the page lands.
	root, err := os.OpenRoot(o.Dir)
	if err != nil {
		return "", fmt.Errorf("browser: %w", err)
	}
	defer root.Close()
	fi, err := root.Stat(".")
	if err != nil {
		return "", fmt.Errorf("browser: %w", err)
	}
	if err := private(o.Dir, fi); err != nil {
		return "", err
	}
	name := pagePrefix + rand.Text() + pageSuffix
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("browser: writing the redirect page: %w", err)
	}
	_, err = f.WriteString(redirectPage(target))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	path := filepath.Join(o.Dir, name)
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("browser: writing the redirect page: %w", err)
	}
	return path, nil
}

// prepareDir creates Dir (0700) and its parent when missing and checks both.
func (o *Opener) prepareDir() error {
	if o.Dir == "" {
		return errors.New("browser: no directory for redirect pages")
	}
	parent := filepath.Dir(o.Dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	if err := os.Mkdir(o.Dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("browser: %w", err)
	}
	return o.checkDir()
}

// checkDir refuses a Dir that is not a directory (a symlink included), not
// ours, or open to others, and a parent that is not ours or is writable by
// others (who could then swap Dir for their own).
func (o *Opener) checkDir() error {
	parent := filepath.Dir(o.Dir)
	pfi, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	if uid, ok := owner(pfi); ok && uid != os.Getuid() {
		return fmt.Errorf("browser: refusing %s for redirect pages: it belongs to uid %d, not to you (uid %d); remove it or set XDG_RUNTIME_DIR", parent, uid, os.Getuid())
	}
	if runtime.GOOS != "windows" && pfi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("browser: refusing %s for redirect pages: other users can write to it (mode %v); run chmod go-w on it", parent, pfi.Mode().Perm())
	}
	fi, err := os.Lstat(o.Dir)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	return private(o.Dir, fi)
}

// private refuses fi (the directory dir) unless it is a real directory
// owned by us that no one else may enter.
func private(dir string, fi fs.FileInfo) error {
	if !fi.IsDir() {
		return fmt.Errorf("browser: refusing %s for redirect pages: it is not a directory; remove it", dir)
	}
	if uid, ok := owner(fi); ok && uid != os.Getuid() {
		return fmt.Errorf("browser: refusing %s for redirect pages: it belongs to uid %d, not to you (uid %d); remove it", dir, uid, os.Getuid())
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("browser: refusing %s for redirect pages: other users can use it (mode %v, want 0700); run chmod 700 on it", dir, fi.Mode().Perm())
	}
	return nil
}

// redirectPage forwards the browser to target: a meta refresh, and a link
// for a browser that does not follow it. No script, no referrer.
func redirectPage(target string) string {
	t := html.EscapeString(target)
	return `<!doctype html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=` + t + `">
<title>mcpauthd</title></head>
<body><p><a href="` + t + `">Continue to mcpauthd</a></p></body></html>
`
}

// fileURL is the file:// URL of the absolute path p.
func fileURL(p string) string {
	p = filepath.ToSlash(p)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/… on Windows
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
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
