//go:build unix

package browser

import (
	"io/fs"
	"syscall"
)

// owner is fi's owning uid.
func owner(fi fs.FileInfo) (int, bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), true
	}
	return 0, false
}
