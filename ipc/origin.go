package ipc

import "strings"

// Origin kinds (Peer.Via's first word): a connection from a program on
// this machine has none.
const (
	ViaSSH       = "ssh"       // forwarded by an OpenSSH client (ssh -R), or from an SSH login
	ViaContainer = "container" // from a container or another user namespace
)

// Origin describes where the process pid that connected to the daemon
// comes from when it is not a program of this machine's session: an
// OpenSSH client forwarding a remote socket (ssh -R: the peer itself is
// ssh), a process under sshd (an SSH login to this machine), or a process
// in another user or pid namespace (a container; its runtime named when an
// ancestor is one). "" for everything else, and where the OS does not say
// (only Linux is read: /proc, names from comm, which any user may read).
// The result starts with ViaSSH or ViaContainer.
func Origin(pid int) string { return origin(pid) }

// ReadOnlySocket is the path of the daemon's read-only socket beside its
// socket path: a connection on it may get tokens but not sign in, sign out
// or change anything (what `mcpauthd ssh-config --read-only` forwards).
func ReadOnlySocket(path string) string {
	return strings.TrimSuffix(path, ".sock") + "-readonly.sock"
}
