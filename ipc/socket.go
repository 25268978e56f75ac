package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Listen creates the daemon's socket at path: its directory is created 0700
// and must then be a real directory (not a symbolic link), owned by this
// user and of mode 0700 (see checkDir); a stale socket file left by a dead
// daemon is replaced, a live one is an error, and the socket is 0600. A
// path longer than the OS's limit is a *SocketError.
func Listen(path string) (net.Listener, error) {
	if err := checkLen(path); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another mcpauthd is already serving %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	}
	old := umask(0o177)
	l, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Dial connects to the daemon's socket and checks, before anything is sent,
// that the process serving it runs as this user (the OS's peer credentials:
// SO_PEERCRED, LOCAL_PEERCRED): a socket served by another uid, or whose
// server the OS cannot name, is closed and a *SocketError returned, as is a
// path longer than the OS allows. Every client of the daemon dials here.
func Dial(ctx context.Context, path string) (net.Conn, error) { return dialAs(ctx, path, os.Getuid()) }

// dialAs is Dial for a client running as uid me.
func dialAs(ctx context.Context, path string, me int) (net.Conn, error) {
	if err := checkLen(path); err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	p, err := PeerOf(c)
	if err != nil {
		c.Close()
		return nil, &SocketError{Path: path, UID: -1, msg: fmt.Sprintf("refusing the socket %s: cannot tell which user serves it (%v); nothing was sent to it", path, err)}
	}
	if p.UID != me {
		c.Close()
		return nil, &SocketError{Path: path, UID: p.UID, msg: fmt.Sprintf("refusing the socket %s: it is served by uid %d, not by you (uid %d), so it is not your mcpauthd "+
			"(another user may be posing as it); nothing was sent to it. Remove it, or set MCPAUTH_SOCK to a socket of yours", path, p.UID, me)}
	}
	return c, nil
}

// SocketError is a socket that Dial or Listen refuses to use: one served by
// another user, or a path the OS cannot bind. Starting a daemon would not
// fix it, so clients report it rather than start one.
type SocketError struct {
	Path string
	// UID is the uid found serving Path; -1 when none was (or none could
	// be) found.
	UID int
	msg string
}

// Error says which socket was refused and why.
func (e *SocketError) Error() string { return e.msg }

// maxPathLen is the longest socket path the OS binds: sun_path holds 108
// bytes on Linux and Windows, 104 on macOS and the BSDs, with room kept for
// the terminating NUL.
func maxPathLen() int {
	switch runtime.GOOS {
	case "linux", "windows":
		return 107
	}
	return 103
}

func checkLen(path string) error {
	if len(path) <= maxPathLen() {
		return nil
	}
	return &SocketError{Path: path, UID: -1, msg: fmt.Sprintf("the socket path %s is %d bytes, longer than the %d this OS allows for a socket; "+
		"set MCPAUTH_SOCK to a shorter path (in a directory of yours with mode 0700)", path, len(path), maxPathLen())}
}

// IsNotRunning reports whether err from a first request means no daemon is
// serving: nothing listens on the socket, or the one that did is dying (a
// killed daemon's listener can still take a connection while its process is
// torn down, and then resets it, or closes it under the request being
// written: a broken pipe).
func IsNotRunning(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
