package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// engineName is the engine's file name.
var engineName = func() string {
	if runtime.GOOS == "windows" {
		return "mcpauthd-engine.exe"
	}
	return "mcpauthd-engine"
}()

// ownExecutable is this program's file, symbolic links resolved; "" when
// the OS does not say.
func ownExecutable() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		return real
	}
	return exe
}

// lookPath finds a program on PATH.
func lookPath(name string) (string, error) { return exec.LookPath(name) }

// findEngine returns the engine to hand over to: engineName in the
// directory of self (this program, symbolic links resolved; "" when
// unknown), else engineName found by lookPath (on PATH). When neither has
// it the error says what is missing, where it looked and how to get it.
func findEngine(self string, lookPath func(string) (string, error)) (string, error) {
	var beside string
	if self != "" {
		beside = filepath.Join(filepath.Dir(self), engineName)
		if fi, err := os.Stat(beside); err == nil && fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode()&0o111 != 0) {
			return beside, nil
		}
	}
	if p, err := lookPath(engineName); err == nil {
		return p, nil
	}
	where := "on PATH"
	if beside != "" {
		where = fmt.Sprintf("at %s nor on PATH", beside)
	}
	return "", errors.New(engineName + " is missing: this command needs it (mcpauthd answers only `token` and `headers` by itself, while the daemon runs), and it is not " + where +
		". Install both programs: go install github.com/mcpauthd/mcpauthd/cmd/...@latest (or reinstall the mcpauthd package, which puts both in /usr/bin)")
}

// exitCode is the engine's exit status, for the front to exit with
// (Windows, where the engine runs as a child).
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }
