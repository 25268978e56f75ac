//go:build unix

package grantfile

import "syscall"

// openFlags make opening a FIFO return at once instead of waiting for a
// writer, and keep a terminal from becoming the controlling one.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
