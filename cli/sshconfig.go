package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"socket", "[--mkdir]", "print the socket path clients of this machine use", runSocket})
	register(command{"ssh-config", "HOST [--remote-socket PATH] [--read-only]", "print ~/.ssh/config lines that lend this daemon to an SSH host", runSSHConfig})
}

// runSocket prints the socket path mcpauthd uses here; with --mkdir it also
// creates the socket's directory (0700), so an SSH forward can bind there.
func runSocket(_ context.Context, e *Env, args []string) error {
	fs := flags(e, "socket", "[--mkdir]")
	mkdir := fs.Bool("mkdir", false, "create the socket's directory (mode 0700) when missing")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *mkdir {
		if err := os.MkdirAll(filepath.Dir(e.Paths.Socket), 0o700); err != nil {
			return fmt.Errorf("creating the socket directory: %w", err)
		}
	}
	fmt.Fprintln(e.Stdout, e.Paths.Socket)
	return nil
}

// runSSHConfig prints the ssh_config lines that forward this machine's
// socket to HOST, at the path HOST's mcpauthd looks at: --remote-socket,
// else what `mcpauthd socket --mkdir` answers on HOST (over ssh).
func runSSHConfig(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "ssh-config", "HOST [--remote-socket PATH] [--read-only]")
	remote := fs.String("remote-socket", "", "the socket path mcpauthd uses on HOST (default: ask HOST's mcpauthd over ssh)")
	readOnly := fs.Bool("read-only", false, "forward the read-only socket: HOST gets tokens, but cannot sign in, sign out or change anything")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	host := pos[0]
	if host == "" || strings.HasPrefix(host, "-") || strings.ContainsAny(host, " \t\r\n\"") {
		return &ExitError{Code: 2, Err: fmt.Errorf("ssh-config: %q is not a host name or alias", host)}
	}
	if *remote == "" {
		cmd := exec.CommandContext(ctx, "ssh", "-o", "BatchMode=yes", "--", host, "mcpauthd", "socket", "--mkdir")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("asking %s for its socket path (ssh %s mcpauthd socket --mkdir): %v %s; "+
				"install mcpauthd on %s (on its PATH), or pass --remote-socket PATH", host, host, err, strings.TrimSpace(errb.String()), host)
		}
		*remote = strings.TrimSpace(out.String())
	}
	if err := configPath(*remote); err != nil {
		return fmt.Errorf("the remote socket path: %w", err)
	}
	local := e.Paths.Socket
	if *readOnly {
		local = ipc.ReadOnlySocket(local)
	}
	if err := configPath(local); err != nil {
		return fmt.Errorf("this machine's socket path: %w", err)
	}
	what := "the daemon"
	if *readOnly {
		what = "the daemon, read-only (tokens, no sign-in),"
	}
	fmt.Fprintf(e.Stdout, "# mcpauthd on %s uses %s of this machine; add to ~/.ssh/config.\n", host, what)
	fmt.Fprintf(e.Stdout, "# %s's sshd_config needs StreamLocalBindUnlink yes to replace the socket a previous session left.\n", host)
	fmt.Fprintf(e.Stdout, "Host %s\n    RemoteForward %s %s\n    StreamLocalBindUnlink yes\n", host, quoteConfig(*remote), quoteConfig(local))
	return nil
}

// configPath accepts an absolute path an ssh_config line can hold.
func configPath(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '"' || r == '%' {
			return fmt.Errorf("%q holds a character ssh_config cannot carry (a control character, \" or %%); set MCPAUTH_SOCK to a plainer path", p)
		}
	}
	return nil
}

// quoteConfig quotes p for ssh_config when it holds a space.
func quoteConfig(p string) string {
	if strings.ContainsAny(p, " \t") {
		return `"` + p + `"`
	}
	return p
}
