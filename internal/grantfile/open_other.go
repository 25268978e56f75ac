//go:build !unix

package grantfile

// openFlags: Windows has no non-blocking open; Read's stat before the open
// refuses named pipes and devices there.
const openFlags = 0
