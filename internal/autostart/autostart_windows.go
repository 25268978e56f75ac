package autostart

import (
	"context"
	"errors"

	"golang.org/x/sys/windows/registry"
)

// The Run key and the value mcpauthd owns in it.
const (
	runKey   = `Software\Microsoft\Windows\CurrentVersion\Run`
	runValue = "mcpauthd"
)

// Install makes mcpauthd start at sign-in through the value "mcpauthd" of
// HKCU\Software\Microsoft\Windows\CurrentVersion\Run (the quoted path of the
// binary). Running it again changes nothing.
func Install(_ context.Context, o Options) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKey, registry.QUERY_VALUE|registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	want := `"` + o.Exe + `"`
	if got, _, err := k.GetStringValue(runValue); err == nil && got == want {
		o.logf(`HKCU\%s\%s is up to date`, runKey, runValue)
	} else {
		if err := k.SetStringValue(runValue, want); err != nil {
			return err
		}
		o.logf(`set HKCU\%s\%s to %s`, runKey, runValue, want)
	}
	o.logf("mcpauthd starts when you sign in to Windows (Run key)")
	return nil
}

// Uninstall deletes the Run key's "mcpauthd" value. It leaves a running
// daemon running.
func Uninstall(_ context.Context, o Options) error {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		o.logf("mcpauthd was not set up to start at sign-in")
		return nil
	}
	if err != nil {
		return err
	}
	defer k.Close()
	switch err := k.DeleteValue(runValue); {
	case errors.Is(err, registry.ErrNotExist):
		o.logf("mcpauthd was not set up to start at sign-in")
	case err != nil:
		return err
	default:
		o.logf(`removed HKCU\%s\%s`, runKey, runValue)
	}
	return nil
}
