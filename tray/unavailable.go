//go:build darwin && !cgo

package tray

import (
	"context"
	"fmt"
)

// run: the macOS tray (NSStatusItem) needs cgo, which this build lacks.
func run(context.Context, Config) error {
	return fmt.Errorf("%w: this macOS build has no cgo (build with CGO_ENABLED=1 for the tray)", ErrUnavailable)
}
