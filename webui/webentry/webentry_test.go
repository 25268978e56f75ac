package webentry

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTicket(t *testing.T) {
	now := time.Now()
	tk := Mint("s3cret", now)
	nonce, exp, ok := Check("s3cret", tk, now)
	if !ok || nonce == "" || exp.Sub(now) > TTL || exp.Sub(now) < TTL-time.Second {
		t.Fatalf("fresh ticket: ok=%v nonce=%q expiry in %s", ok, nonce, exp.Sub(now))
	}
	if n2, _, _ := Check("s3cret", Mint("s3cret", now), now); n2 == nonce {
		t.Fatal("two tickets share a nonce")
	}
	for name, c := range map[string]struct {
		secret, ticket string
		at             time.Time
	}{
		"other secret": {"other", tk, now},
		"expired":      {"s3cret", tk, now.Add(TTL + time.Second)},
		"tampered":     {"s3cret", tamper(tk), now},
		"truncated":    {"s3cret", tk[:20], now},
		"empty secret": {"", Mint("", now), now},
	} {
		if _, _, ok := Check(c.secret, c.ticket, c.at); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOneTime(t *testing.T) {
	link, err := OneTime("http://127.0.0.1:53682/ui?k=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	if u.Host != "127.0.0.1:53682" || u.Path != "/ui" || u.Query().Has(SecretParam) || strings.Contains(link, "s3cret") {
		t.Fatalf("one-time link %q", link)
	}
	if _, _, ok := Check("s3cret", u.Query().Get(TicketParam), time.Now()); !ok {
		t.Fatal("the link's ticket does not check")
	}
	if _, err := OneTime("http://127.0.0.1:53682/ui"); err == nil {
		t.Fatal("a URL without a secret gave a link")
	}
}

// tamper changes one character of the MAC part of ticket.
func tamper(ticket string) string {
	b := []byte(ticket)
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
