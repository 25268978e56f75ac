//go:build !linux && !darwin && !windows

package autostart

import (
	"context"
	"errors"
)

// Install is not implemented on this OS: it returns errors.ErrUnsupported.
func Install(context.Context, Options) error { return errors.ErrUnsupported }

// Uninstall is not implemented on this OS: it returns errors.ErrUnsupported.
func Uninstall(context.Context, Options) error { return errors.ErrUnsupported }
