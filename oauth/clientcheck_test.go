package oauth

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// awaitBrowser checks the client only when the redirect is slow, and a
// failed check ends the wait with the check's error.
func TestAwaitBrowser(t *testing.T) {
	f := &Flow{}
	a := &Authorization{}
	t.Run("fast redirect: no check", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			checked := false
			u, err := f.awaitBrowser(context.Background(), func(context.Context, *Authorization) (string, error) {
				time.Sleep(ClientCheckDelay / 2)
				return "http://127.0.0.1/callback?code=c", nil
			}, a, func(context.Context) error { checked = true; return ErrInvalidClient })
			if err != nil || u == "" || checked {
				t.Fatalf("got %q, %v, checked %v", u, err, checked)
			}
		})
	})
	t.Run("forgotten client ends the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			_, err := f.awaitBrowser(context.Background(), func(ctx context.Context, _ *Authorization) (string, error) {
				<-ctx.Done() // the authorization server never redirects back
				return "", ctx.Err()
			}, a, func(context.Context) error { return ErrInvalidClient })
			if !errors.Is(err, ErrInvalidClient) || time.Since(start) != ClientCheckDelay {
				t.Fatalf("err %v after %s; want ErrInvalidClient after %s", err, time.Since(start), ClientCheckDelay)
			}
		})
	})
	t.Run("known client: keep waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			u, err := f.awaitBrowser(context.Background(), func(context.Context, *Authorization) (string, error) {
				time.Sleep(3 * ClientCheckDelay) // the user takes their time
				return "http://127.0.0.1/callback?code=c", nil
			}, a, func(context.Context) error { return nil })
			if err != nil || u == "" {
				t.Fatalf("got %q, %v", u, err)
			}
		})
	})
}
