package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mcpauthd/mcpauthd/internal/browser"
	"github.com/mcpauthd/mcpauthd/internal/settings"
	"github.com/mcpauthd/mcpauthd/webui/webentry"
)

func init() {
	register(command{"ui", "[--print]", "open the web page (--print: print a link to it)", runUI})
}

// runUI opens the daemon's web page in the browser, or prints a link to it.
// Either way the link is a one-time one (webentry.OneTime, valid for
// webentry.TTL): the daemon's reusable entry secret never reaches a command
// line or a terminal, and the browser gets even the one-time link only
// through a private redirect page (internal/browser), never on its command
// line.
func runUI(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "ui", "[--print]")
	printOnly := fs.Bool("print", false, "print a one-time link instead of opening the browser")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	s, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if s.WebURL == "" {
		return errors.New("this mcpauthd serves no web page")
	}
	link, err := webentry.OneTime(s.WebURL)
	if err != nil {
		return err
	}
	if *printOnly {
		fmt.Fprintln(e.Stdout, link)
		fmt.Fprintf(e.Stderr, "The link opens the page once, within %s.\n", webentry.TTL)
		return nil
	}
	set, err := settings.Load(e.Paths.ConfigFile(), os.Getenv) // the browser setting, as the daemon's
	if err != nil {
		return err
	}
	if err := browser.New(e.Paths.Runtime, set.Browser()).Open(link); err != nil {
		return fmt.Errorf("%w; run mcpauthd ui --print and open the link yourself", err)
	}
	fmt.Fprintln(e.Stdout, "Opened the mcpauthd page in your browser.")
	return nil
}
