//go:build unix

package grantfile

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOpenDoesNotBlockOnFIFO: a file swapped for a FIFO between Read's
// stat and its open (readOpen without the stat) is refused at once: the
// open does not wait for a writer.
func TestOpenDoesNotBlockOnFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := readOpen(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "named pipe") {
			t.Fatalf("readOpen(FIFO) = %v; want a refusal naming a named pipe", err)
		}
	case <-time.After(10 * time.Second): // a hang detector, not a speed limit
		t.Fatal("opening a FIFO without a writer blocks")
	}
}
