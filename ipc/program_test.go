package ipc

import (
	"path/filepath"
	"testing"
)

// Both of mcpauthd's programs pass a request on to whatever started them,
// wherever they are installed: the front users type (cmd/mcpauthd, which
// answers token and headers itself) and the engine it hands the rest to
// (cmd/mcpauthd-engine), even when the daemon runs from another install.
func TestIsPassThroughNames(t *testing.T) {
	self := filepath.Join("/opt", "mcpauthd", "mcpauthd-engine")
	for _, exe := range []string{
		filepath.Join("/usr", "bin", "mcpauthd"),
		filepath.Join("/usr", "bin", "mcpauthd-engine"),
		filepath.Join("/home", "me", "go", "bin", "mcpauthd-engine"),
		filepath.Join("/x", "mcpauthd.exe"),
		filepath.Join("/x", "mcpauthd-engine.exe"),
		self,
		filepath.Join("/bin", "sh"),
	} {
		if !IsPassThrough(exe, self) {
			t.Errorf("IsPassThrough(%s) = false, want true", exe)
		}
	}
	for _, exe := range []string{
		filepath.Join("/usr", "bin", "claude"),
		filepath.Join("/usr", "bin", "mcpauthd-engine2"),
		filepath.Join("/usr", "bin", "not-mcpauthd"),
	} {
		if IsPassThrough(exe, self) {
			t.Errorf("IsPassThrough(%s) = true, want false", exe)
		}
	}
}
