package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// watchSocket re-creates the daemon's socket when its file is deleted under
// it (a temp-directory cleaner, a stray rm). Without this the daemon would
// run on unreachable, and, holding the registry's lock, keep the daemon the
// next client starts from working: every command would fail until it is
// killed. serve is called with each new listener. A path now taken by
// another file is left alone (and logged).
//
// It wakes only when the socket's directory changes (inotify on Linux); on
// other systems it polls (socketChanges).
func watchSocket(ctx context.Context, log *slog.Logger, path string, serve func(net.Listener)) {
	ours, _ := os.Stat(path)
	changes := socketChanges(ctx, log, path)
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok || ctx.Err() != nil {
				return // shutting down: the socket's removal is ours
			}
		}
		cur, err := os.Stat(path)
		switch {
		case err == nil && ours != nil && os.SameFile(ours, cur):
			continue
		case err == nil:
			log.Error("the socket path now holds another file; not touching it", "socket", path)
			ours = cur
			continue
		case !errors.Is(err, fs.ErrNotExist):
			continue
		}
		l, err := ipc.Listen(path)
		if err != nil {
			log.Error("the socket was deleted and could not be re-created", "socket", path, "err", err)
			continue
		}
		log.Warn("the socket was deleted; re-created it", "socket", path)
		ours, _ = os.Stat(path)
		go serve(l)
	}
}
