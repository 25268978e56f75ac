//go:build !unix

package stdiopoll

import (
	"io"
	"os"
)

// Open returns f: only Unix pipes and sockets are made pollable.
func Open(f *os.File) io.ReadCloser { return f }
