//go:build !linux

package daemon

import (
	"context"
	"errors"
)

// errNoWakeSignals: this OS build has no sleep/wake source (WatchWake).
var errNoWakeSignals = errors.New("no sleep/wake signals on this OS build")

func (d *Daemon) watchWake(context.Context) error { return errNoWakeSignals }
