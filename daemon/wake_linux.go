package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	login1Name    = "org.freedesktop.login1"
	login1Path    = "/org/freedesktop/login1"
	login1Manager = "org.freedesktop.login1.Manager"
	nmName        = "org.freedesktop.NetworkManager"
	nmPath        = "/org/freedesktop/NetworkManager"
	// nmConnectedGlobal is NM_STATE_CONNECTED_GLOBAL.
	nmConnectedGlobal = 70
	// wakeConnectTimeout bounds adding the match rules on the system bus.
	wakeConnectTimeout = 10 * time.Second
)

func (d *Daemon) watchWake(ctx context.Context) error {
	// The connection lives as long as ctx (main calls WatchWake on a
	// goroutine of its own: a bus that never answers holds up nothing).
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("system bus: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, wakeConnectTimeout)
	defer cancel()
	if err := subscribeWake(cctx, conn); err != nil {
		conn.Close()
		return err
	}
	ch := make(chan *dbus.Signal, 16)
	conn.Signal(ch)
	go d.wakeLoop(ctx, conn, ch)
	return nil
}

// subscribeWake adds the match rules for the signals Resync follows.
func subscribeWake(ctx context.Context, conn *dbus.Conn) error {
	// The sender is matched by its well-known name, which the bus resolves
	// to its owner: another process's look-alike signal is not delivered.
	// (Were it delivered, a Resync only re-checks the clock.)
	if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(login1Name), dbus.WithMatchObjectPath(login1Path),
		dbus.WithMatchInterface(login1Manager), dbus.WithMatchMember("PrepareForSleep")); err != nil {
		return fmt.Errorf("system bus: listening for logind's PrepareForSleep: %w", err)
	}
	if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(nmName), dbus.WithMatchObjectPath(nmPath),
		dbus.WithMatchInterface(nmName), dbus.WithMatchMember("StateChanged")); err != nil {
		return fmt.Errorf("system bus: listening for NetworkManager's StateChanged: %w", err)
	}
	return nil
}

// wakeLoop follows the signals until ctx ends (then closes conn) or the
// bus goes away (logged: no more wake-ups until a restart).
func (d *Daemon) wakeLoop(ctx context.Context, conn *dbus.Conn, ch chan *dbus.Signal) {
	defer conn.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case sig, ok := <-ch:
			if !ok {
				d.log.Warn("the system bus went away: no more sleep/wake signals until mcpauthd restarts")
				return
			}
			switch {
			case sig.Name == login1Manager+".PrepareForSleep" && len(sig.Body) == 1 && sig.Body[0] == false:
				d.Resync("the machine woke up", true)
			case sig.Name == nmName+".StateChanged" && len(sig.Body) == 1 && sig.Body[0] == uint32(nmConnectedGlobal):
				d.Resync("the network is connected", true)
			}
		}
	}
}
