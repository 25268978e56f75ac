package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/cli"
	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/browser"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/ipc/ipcserver"
	"github.com/mcpauthd/mcpauthd/store"
)

// runDaemon wires the daemon: store, service, callback listener, socket.
// Settings come from the environment, with embedded defaults:
//
//	MCPAUTH_SOCK                 socket path
//	MCPAUTH_SECRET_BACKEND=file  keep the data key in a 0600 file instead of the OS keyring
//	MCPAUTH_CALLBACK_ADDR        loopback address for authorization redirects (127.0.0.1:53682)
//	MCPAUTH_APPS_ADDR            loopback address of the reverse proxy for HTTP apps (127.0.0.1:53683)
//	MCPAUTH_CLIENT_METADATA_URL  https URL of mcpauthd's Client ID Metadata Document
//	MCPAUTH_LOG_LEVEL            debug, info (default), warn, error
func runDaemon(ctx context.Context, env *cli.Env, args []string) error {
	fs := flag.NewFlagSet("mcpauthd", flag.ContinueOnError)
	noTray := fs.Bool("no-tray", false, "run without the system tray icon")
	if err := fs.Parse(args); err != nil {
		return &cli.ExitError{Code: 2, Err: err}
	}
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(os.Getenv("MCPAUTH_LOG_LEVEL")))
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))

	p := env.Paths
	var secrets store.SecretBackend = store.KeyringBackend{}
	switch b := os.Getenv("MCPAUTH_SECRET_BACKEND"); strings.ToLower(b) {
	case "", "keyring":
	case "file":
		secrets = store.NewFileBackend(p.Data, log)
	default:
		return fmt.Errorf("MCPAUTH_SECRET_BACKEND=%q: want keyring or file", b)
	}
	st, err := store.Open(p.DB(), store.Options{Secrets: secrets})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w (socket %s)", err, p.Socket)
	}
	if err != nil {
		return err
	}
	defer st.Close()

	// Every URL the daemon and its tray open goes to the browser through a
	// private redirect page, never on a command line; pages a previous run
	// left behind go now, and those of CLIs that exited (mcpauthd ui) at
	// the next sweep.
	opener := browser.New(p.Runtime)
	if err := opener.Sweep(); err != nil {
		log.Warn("cannot clean the browser redirect pages", "err", err)
	}
	d, err := daemon.New(daemon.Config{
		Store:               st,
		Logger:              log,
		CallbackAddr:        os.Getenv("MCPAUTH_CALLBACK_ADDR"),
		ClientIDMetadataURL: os.Getenv("MCPAUTH_CLIENT_METADATA_URL"),
		OpenBrowser:         opener.Open,
		Version:             cli.Version,
		Socket:              p.Socket,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	if h, entry := webUI(d, log); h != nil {
		d.SetWeb(h, entry)
	}
	if err := d.Start(); err != nil {
		return err
	}
	l, err := ipc.Listen(p.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(p.Socket)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	startApps(ctx, d, log)
	go func() {
		tick := time.NewTicker(browser.DefaultKeep)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = opener.Sweep()
			}
		}
	}()
	log.Info("mcpauthd running", "socket", p.Socket, "callback", d.CallbackURL(), "database", p.DB(), "pid", os.Getpid())
	api := ipcserver.New(d, log, cancel)
	go watchSocket(ctx, log, p.Socket, func(l net.Listener) { _ = api.Serve(ctx, l) })
	serve := func(ctx context.Context) error { return api.Serve(ctx, l) }
	if *noTray {
		return serve(ctx)
	}
	return withTray(ctx, log, p.Socket, opener.Open, cancel, serve)
}
