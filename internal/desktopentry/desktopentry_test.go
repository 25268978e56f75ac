package desktopentry

import (
	"os"
	"path/filepath"
	"testing"
)

func TestName(t *testing.T) {
	user, sys := t.TempDir(), t.TempDir()
	write := func(dir, file, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "applications"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "applications", file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(sys, "editor.desktop", "[Desktop Entry]\nName=Fancy Editor\nExec=/opt/editor/bin/editor %F\n[Desktop Action new]\nName=New Window\n")
	write(user, "editor.desktop", "[Desktop Entry]\nName=My Editor\nExec=\"/opt/editor/bin/editor\" --new\n") // the user's wins
	write(sys, "chat.desktop", "[Desktop Entry]\nExec=chat %U\nName=Chat App\n")
	write(sys, "gone.desktop", "[Desktop Entry]\nName=Gone\nExec=/usr/bin/gone\nHidden=true\n")
	x := &Index{Dirs: []string{user, sys}}
	for exe, want := range map[string]string{
		"/opt/editor/bin/editor": "My Editor",
		"/usr/lib/chat/chat":     "Chat App", // Exec by name: matched by base name
		"/usr/bin/gone":          "gone",     // hidden entries do not count
		"/home/u/bin/tool":       "tool",
		"":                       "",
	} {
		if got := x.Name(exe); got != want {
			t.Errorf("Name(%q) = %q, want %q", exe, got, want)
		}
	}
}
