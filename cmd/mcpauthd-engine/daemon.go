package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"

	"github.com/mcpauthd/mcpauthd/cli"
	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/browser"
	"github.com/mcpauthd/mcpauthd/internal/settings"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/ipc/ipcserver"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// errRestart is what runDaemon returns after a clean shutdown that was
// asked to restart (`mcpauthd restart`): main then starts the daemon again
// in the same process slot (reexec), which reads the settings anew.
var errRestart = errors.New("restart")

// runDaemon wires the daemon: settings, store, service, callback listener,
// socket. Settings come from internal/settings: embedded defaults, the
// settings file, then the environment (MCPAUTH_* and BROWSER).
func runDaemon(ctx context.Context, env *cli.Env, args []string) error {
	fs := flag.NewFlagSet("mcpauthd", flag.ContinueOnError)
	noTray := fs.Bool("no-tray", false, "run without the system tray icon")
	if err := fs.Parse(args); err != nil {
		return &cli.ExitError{Code: 2, Err: err}
	}
	p := env.Paths
	set, err := settings.Load(p.ConfigFile(), os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: set.LogLevel()}))

	var secrets store.SecretBackend = store.KeyringBackend{}
	if set.SecretBackend() == "file" {
		secrets = store.NewFileBackend(p.Data, log)
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
	opener := browser.New(p.Runtime, set.Browser())
	if err := opener.Sweep(); err != nil {
		log.Warn("cannot clean the browser redirect pages", "err", err)
	}
	// One network policy for the engine and the reverse proxy.
	netOpts := oauth.HTTPOptions{AllowPrivateNetworks: set.AllowPrivateNetworks(), Proxy: set.Proxy()}
	d, err := daemon.New(daemon.Config{
		Store:               st,
		Logger:              log,
		HTTP:                oauth.NewHTTPClient(netOpts),
		CallbackAddr:        set.CallbackAddr(),
		ClientIDMetadataURL: set.ClientMetadataURL(),
		OpenBrowser:         opener.Open,
		Version:             cli.Version,
		Socket:              p.Socket,
		SettingsFile:        set.File,
		Settings:            ipcSettings(set),
		Approval:            set.Get("approval"),
		ApprovalWait:        set.ApprovalTimeout(),
		DenyTools:           set.DenyTools(),
	})
	if err != nil {
		return err
	}
	defer d.Close()
	web, err := serveLoopback(d, set.CallbackAddr(), log)
	if err != nil {
		return err
	}
	defer web.Close()
	l, err := ipc.Listen(p.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(p.Socket)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if err := d.WatchWake(ctx); err != nil {
			log.Info("not listening for sleep/wake signals: after the machine sleeps, refresh timers fire late (tokens are still refreshed on use)", "err", err)
		}
	}()
	startApps(ctx, d, set.AppsAddr(), oauth.NewTransport(netOpts), log)
	log.Info("mcpauthd running", "socket", p.Socket, "callback", d.CallbackURL(), "database", p.DB(), "settings", set.File, "pid", os.Getpid())
	var restart atomic.Bool
	api := ipcserver.New(d, log, func(again bool) {
		restart.Store(again)
		cancel()
	})
	api.ForwardedReadOnly = set.ForwardedReadOnly()
	// The read-only socket (for `ssh-config --read-only` forwards): best
	// effort, the daemon works without it.
	if ro, err := ipc.Listen(ipc.ReadOnlySocket(p.Socket)); err != nil {
		log.Warn("no read-only socket", "path", ipc.ReadOnlySocket(p.Socket), "err", err)
	} else {
		defer os.Remove(ipc.ReadOnlySocket(p.Socket))
		go func() { _ = api.ServeReadOnly(ctx, ro) }()
	}
	go watchSocket(ctx, log, p.Socket, func(l net.Listener) { _ = api.Serve(ctx, l) })
	serve := func(ctx context.Context) error { return api.Serve(ctx, l) }
	if *noTray {
		err = serve(ctx)
	} else {
		err = withTray(ctx, log, p.Socket, opener.Open, cancel, serve)
	}
	if err == nil && restart.Load() {
		log.Info("restarting")
		return errRestart
	}
	return err
}

// ipcSettings is the settings as Status reports them.
func ipcSettings(s *settings.Settings) []ipc.Setting {
	out := make([]ipc.Setting, len(s.List))
	for i, v := range s.List {
		out[i] = ipc.Setting{Key: v.Key, Env: v.Env, Value: v.Value, Source: v.Source}
	}
	return out
}
