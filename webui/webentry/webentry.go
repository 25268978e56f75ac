// Package webentry mints and checks the links that open mcpauthd's local
// web page.
//
// The daemon's entry URL (ipc.Status.WebURL, "http://127.0.0.1:53682/ui?k=SECRET")
// carries a secret that is valid for the daemon's whole run and is only ever
// given over the socket. A program that hands a link to a browser puts it in
// a command line, which every local user can read, so it should hand over
// OneTime(WebURL) instead: a ticket derived from the secret that opens the
// page once, within TTL, and reveals nothing reusable.
//
// This package needs only the standard library, so clients (cli, tray) can
// mint tickets without importing the daemon.
package webentry

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/url"
	"time"
)

const (
	// SecretParam is the entry URL's query parameter holding the per-start secret.
	SecretParam = "k"
	// TicketParam is a one-time link's query parameter holding the ticket.
	TicketParam = "t"
	// TTL is how long a one-time link stays valid.
	TTL = 2 * time.Minute
)

const (
	nonceLen = 16
	macLen   = sha256.Size
	label    = "mcpauthd web entry v1\x00"
)

var b64 = base64.RawURLEncoding

// OneTime turns the entry URL webURL into a link that opens the page once,
// before TTL has passed: its ticket replaces the secret. It fails when
// webURL holds no secret.
func OneTime(webURL string) (string, error) {
	u, err := url.Parse(webURL)
	if err != nil {
		return "", errors.New("webentry: the web page URL does not parse")
	}
	q := u.Query()
	secret := q.Get(SecretParam)
	if secret == "" {
		return "", errors.New("webentry: the web page URL carries no entry secret")
	}
	q.Del(SecretParam)
	q.Set(TicketParam, Mint(secret, time.Now()))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Mint returns a fresh ticket for secret, valid from now for TTL.
func Mint(secret string, now time.Time) string {
	msg := make([]byte, 8, 8+nonceLen+macLen)
	binary.BigEndian.PutUint64(msg, uint64(now.Add(TTL).Unix()))
	msg = append(msg, rand.Text()[:nonceLen]...)
	return b64.EncodeToString(append(msg, mac(secret, msg)...))
}

// Check verifies ticket against secret at now. It returns the ticket's
// nonce and expiry; the caller must refuse a nonce it has already accepted
// (remembering it until expiry) for the ticket to be single-use.
func Check(secret, ticket string, now time.Time) (nonce string, expiry time.Time, ok bool) {
	raw, err := b64.DecodeString(ticket)
	if err != nil || len(raw) != 8+nonceLen+macLen || secret == "" {
		return "", time.Time{}, false
	}
	msg, sum := raw[:8+nonceLen], raw[8+nonceLen:]
	if !hmac.Equal(sum, mac(secret, msg)) {
		return "", time.Time{}, false
	}
	expiry = time.Unix(int64(binary.BigEndian.Uint64(msg)), 0)
	if !now.Before(expiry) || expiry.Sub(now) > TTL+time.Second {
		return "", time.Time{}, false
	}
	return string(msg[8:]), expiry, true
}

func mac(secret string, msg []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(label))
	m.Write(msg)
	return m.Sum(nil)
}
