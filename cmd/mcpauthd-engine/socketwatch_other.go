//go:build !linux

package main

import (
	"context"
	"log/slog"
	"time"
)

// socketChanges polls where there is no inotify: a tick every two seconds.
func socketChanges(ctx context.Context, _ *slog.Logger, _ string) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
