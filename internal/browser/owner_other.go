//go:build !unix

package browser

import "io/fs"

// owner: this platform reports no owning uid in a FileInfo (on Windows the
// directory lives under the user's own %LOCALAPPDATA%, which its ACL keeps
// private).
func owner(fs.FileInfo) (int, bool) { return 0, false }
