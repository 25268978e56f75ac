package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcpauthd/mcpauthd/internal/autostart"
)

func init() {
	register(command{"install", "[--print FILE [--exe PATH]]", "start mcpauthd at login (systemd, XDG autostart, launchd or Run key)", runInstall})
}

// runInstall sets up autostart for this user and this binary (see
// autostart.Install); with --print it only writes one rendered file to
// stdout, which is how scripts/dist.sh builds the packaged files.
func runInstall(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "install", "[--print FILE [--exe PATH]]")
	printFile := fs.String("print", "", "print FILE ("+strings.Join(autostart.Names(), ", ")+") as it would be installed, and do nothing else")
	exeFlag := fs.String("exe", "", "with --print: the binary's path to write into FILE (default: this binary)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *exeFlag != "" && *printFile == "" {
		return &ExitError{Code: 2, Err: fmt.Errorf("install: --exe goes with --print")}
	}
	exe := *exeFlag
	if exe == "" {
		var err error
		if exe, err = executable(); err != nil {
			return err
		}
	}
	if *printFile != "" {
		b, err := autostart.Render(*printFile, autostart.Data{Exe: exe, LogFile: filepath.Join(e.Paths.State, "mcpauthd.log")})
		if err != nil {
			return err
		}
		_, err = e.Stdout.Write(b)
		return err
	}
	return autostart.Install(ctx, autostart.Options{Exe: exe, Log: e.Stdout})
}

// executable is this binary's absolute path, refusing the temporary one of
// `go run`, which would be gone by the next login.
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return exe, checkLasting(exe)
}

// checkLasting refuses exe when it is a temporary `go run` build: a file
// that names it (an autostart entry, an app's config) would point at
// nothing once the build cache is cleaned.
func checkLasting(exe string) error {
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return fmt.Errorf("%s is a temporary `go run` build: use a built binary (go build, or a package), or name one with --command", exe)
	}
	return nil
}
