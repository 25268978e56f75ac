package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// socketChanges sends on the returned channel whenever an entry of the
// socket's directory is deleted or renamed away: inotify, so an idle daemon
// never wakes up for it. The channel closes when ctx ends (or inotify fails,
// after logging why).
func socketChanges(ctx context.Context, log *slog.Logger, path string) <-chan struct{} {
	out := make(chan struct{}, 1)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		log.Warn("cannot watch the socket directory; a deleted socket will not be re-created", "err", err)
		close(out)
		return out
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF); err != nil {
		log.Warn("cannot watch the socket directory; a deleted socket will not be re-created", "err", err)
		unix.Close(fd)
		close(out)
		return out
	}
	go func() {
		<-ctx.Done()
		unix.Close(fd) // ends the blocking read below
	}()
	go func() {
		defer close(out)
		buf := make([]byte, 4096)
		for {
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				return
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}
