// Package grantfile reads and checks what a non-interactive grant sends to
// an authorization server: a workload or ID token (a JWT), a private key
// (PEM) or a client secret, from a file the user named or as pasted
// content.
//
// Every such file goes through Read: the CLI reads the files its flags
// name, and the daemon re-reads a workload token file before every grant.
// Read follows symbolic links (a Kubernetes projected token is a chain of
// them) but accepts only a regular file as the final target, and never
// blocks on opening one that is not (a FIFO, a device such as /dev/zero,
// a socket); it reads at most Limit bytes and checks the content before the
// caller may send it anywhere. Errors name the file and the rule it broke,
// never the content.
package grantfile

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limit is the largest file, or pasted value, accepted: 64 KiB is plenty
// for a JWT or a PEM private key.
const Limit = 64 << 10

// ErrExpired is wrapped by the error for a JWT whose exp has passed.
var ErrExpired = errors.New("expired")

// Kind is what a file or value must hold. The zero Kind is not valid.
type Kind struct {
	name  string             // for errors: "a JWT"
	trim  bool               // surrounding white space is not part of the value
	check func([]byte) error // the content rule; its error never quotes the content
}

var (
	// JWT is a compact JWS: three base64url parts, a JSON header naming a
	// signing algorithm other than "none", a JSON claims set, a non-empty
	// signature, and no exp in the past. The signature is not verified
	// (that is the authorization server's business).
	JWT = Kind{name: "a JWT", trim: true, check: checkJWT}
	// PrivateKey is a PEM private key that ParsePrivateKey accepts.
	PrivateKey = Kind{name: "a PEM private key", check: func(b []byte) error { _, err := ParsePrivateKey(b); return err }}
	// Secret is a client secret: non-empty printable text on one line.
	Secret = Kind{name: "a client secret", trim: true, check: checkSecret}
	// JSONObject is a JSON object (mcp-remote's static OAuth client
	// information or metadata, which may hold a client secret).
	JSONObject = Kind{name: "a JSON object", trim: true, check: func(b []byte) error {
		var m map[string]any
		if json.Unmarshal(b, &m) != nil || m == nil {
			return errors.New("not a JSON object")
		}
		return nil
	}}
)

// Read returns the content of the file at path, checked as k (and trimmed
// of surrounding white space for a JWT or a secret). It follows symbolic
// links, refuses anything but a regular file without blocking on it, and
// refuses a file larger than Limit without reading it whole. The error
// names path and the rule, never the content.
func Read(path string, k Kind) (string, error) {
	b, err := readRegular(path)
	if err != nil {
		return "", err
	}
	s, err := k.apply(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Check returns the pasted or uploaded value v checked as k (and trimmed
// for a JWT or a secret): the same rules as Read's, for content that did
// not come from a file. what names the value in the error ("the pasted
// workload JWT"); the error never quotes v.
func Check(what, v string, k Kind) (string, error) {
	s, err := k.apply([]byte(v))
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return s, nil
}

func (k Kind) apply(b []byte) (string, error) {
	if len(b) > Limit {
		return "", fmt.Errorf("larger than %d KiB; it cannot be %s", Limit>>10, k.name)
	}
	if k.trim {
		b = bytes.TrimSpace(b)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("empty; it must hold %s", k.name)
	}
	if err := k.check(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// readRegular reads at most Limit bytes of the regular file at path. It
// stats first, so a FIFO or a device is refused without being opened; the
// open itself is non-blocking where the OS has that (openFlags), so a file
// swapped for a FIFO after the stat cannot hang it either, and what is read
// is decided by the open file's own stat.
func readRegular(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err // a *fs.PathError: names the path and the OS's reason
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	return readOpen(path)
}

// readOpen opens path without blocking (openFlags) and reads it only if
// the open file is a regular one of at most Limit bytes.
func readOpen(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, Limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > Limit {
		return nil, tooLarge(path)
	}
	return b, nil
}

// regular refuses anything but a regular file of at most Limit bytes.
func regular(path string, fi fs.FileInfo) error {
	m := fi.Mode()
	if m.IsRegular() {
		if fi.Size() > Limit {
			return tooLarge(path)
		}
		return nil
	}
	what := "not a regular file"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		what = "a device"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	}
	return fmt.Errorf("%s is %s; mcpauthd reads only regular files", path, what)
}

func tooLarge(path string) error {
	return fmt.Errorf("%s is larger than %d KiB; a token, key or secret file is smaller", path, Limit>>10)
}

var b64 = base64.RawURLEncoding.Strict()

func checkJWT(b []byte) error {
	const notJWT = "not a JWT (three base64url parts separated by dots)"
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return errors.New(notJWT)
	}
	var dec [3][]byte
	for i, p := range parts {
		var err error
		if dec[i], err = b64.DecodeString(p); err != nil {
			return errors.New(notJWT)
		}
	}
	var header struct {
		Alg any `json:"alg"`
	}
	if json.Unmarshal(dec[0], &header) != nil {
		return errors.New("not a JWT: its header is not a JSON object")
	}
	alg, _ := header.Alg.(string)
	switch {
	case alg == "":
		return errors.New(`not a JWT: its header names no signing algorithm ("alg")`)
	case strings.EqualFold(alg, "none"):
		return errors.New(`an unsigned JWT (alg "none"); mcpauthd sends only signed ones`)
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if json.Unmarshal(dec[1], &claims) != nil {
		return errors.New("not a JWT: its claims are not a JSON object")
	}
	if claims.Exp != nil {
		exp, err := claims.Exp.Float64()
		if err != nil {
			return errors.New("not a JWT: its exp is not a number")
		}
		if at := time.Unix(int64(exp), 0); !at.After(time.Now()) {
			return fmt.Errorf("%w at %s", ErrExpired, at.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func checkSecret(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("not text; a client secret is printable text")
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return errors.New("holds a control character or a line break; a client secret is printable text on one line")
		}
	}
	return nil
}

// ParsePrivateKey parses a PEM private key for private_key_jwt: PKCS #8
// ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE
// KEY"), holding an ECDSA, RSA or Ed25519 key. The error never quotes the
// input, not even its PEM label.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("the private key is not PEM")
	}
	var k any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, errors.New("the private key cannot be parsed (PKCS #8, SEC 1 or PKCS #1 PEM)")
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", k)
}
