//go:build unix

package grantfile_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/internal/grantfile"
)

// hangLimit bounds a call that must not block (a FIFO without a writer);
// it detects a hang, it does not measure speed.
const hangLimit = 10 * time.Second

func testJWT(t *testing.T, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "workload-" + rand.Text(), ExpiresAt: jwt.NewNumericDate(exp)}).SignedString([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func write(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// readSoon runs Read in a goroutine and fails the test if it has not
// returned within hangLimit.
func readSoon(t *testing.T, path string, k grantfile.Kind) (string, error) {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := grantfile.Read(path, k)
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(hangLimit):
		t.Fatalf("Read(%s) has not returned after %s: it blocks", path, hangLimit)
		return "", nil
	}
}

// TestReadAccepts: a regular file, and a symbolic link chain to one (a
// Kubernetes projected token), are read and trimmed for a JWT or secret,
// kept as they are for a key.
func TestReadAccepts(t *testing.T) {
	dir := t.TempDir()
	tok, key := testJWT(t, time.Now().Add(time.Hour)), testKey(t)
	jf := write(t, dir, "token", "  "+tok+"\n", 0o600)
	if got, err := grantfile.Read(jf, grantfile.JWT); err != nil || got != tok {
		t.Fatalf("Read(JWT file) = %q, %v; want the JWT trimmed", got, err)
	}
	// ..data → ..2026_01; token → ..data/token, as the kubelet lays it out.
	if err := os.Mkdir(filepath.Join(dir, "..2026_01"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "..2026_01"), "projected", tok, 0o600)
	if err := os.Symlink("..2026_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "projected")
	if err := os.Symlink(filepath.Join("..data", "projected"), link); err != nil {
		t.Fatal(err)
	}
	if got, err := grantfile.Read(link, grantfile.JWT); err != nil || got != tok {
		t.Fatalf("Read(symlinked projected token) = %q, %v", got, err)
	}
	kf := write(t, dir, "key.pem", key, 0o600)
	if got, err := grantfile.Read(kf, grantfile.PrivateKey); err != nil || got != key {
		t.Fatalf("Read(key file) = %v; want the PEM as it is", err)
	}
	sf := write(t, dir, "secret", "s3cret with spaces\n", 0o600)
	if got, err := grantfile.Read(sf, grantfile.Secret); err != nil || got != "s3cret with spaces" {
		t.Fatalf("Read(secret file) = %q, %v", got, err)
	}
	// Exactly the limit is accepted (a JWT padded with trailing space).
	pf := write(t, dir, "padded", tok+strings.Repeat(" ", grantfile.Limit-len(tok)), 0o600)
	if got, err := grantfile.Read(pf, grantfile.JWT); err != nil || got != tok {
		t.Fatalf("Read(a file of exactly %d bytes) = %v", grantfile.Limit, err)
	}
}

// TestReadRefuses: every file that is not a small regular file holding
// the right kind of content is refused, promptly (a FIFO without a writer
// included), with an error that names the file and never its content.
func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	tok := testJWT(t, time.Now().Add(time.Hour))
	const shadow = "root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n"

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(tok), 100<<20-int64(len(tok))); err != nil { // 100 MB, ends in a JWT
		t.Fatal(err)
	}
	f.Close()
	unreadable := write(t, dir, "shadow", shadow, 0o000)
	shadowLink := filepath.Join(dir, "innocent-token")
	if err := os.Symlink(unreadable, shadowLink); err != nil {
		t.Fatal(err)
	}
	fifoLink := filepath.Join(dir, "fifo-link")
	if err := os.Symlink(fifo, fifoLink); err != nil {
		t.Fatal(err)
	}
	hdr := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) }
	body, sig := hdr(`{"sub":"x"}`), hdr("signature-bytes-Q7")
	unsigned := hdr(`{"alg":"none"}`) + "." + body + "."
	unsignedSig := hdr(`{"alg":"None"}`) + "." + body + "." + sig
	noAlg := hdr(`{"typ":"JWT"}`) + "." + body + "." + sig
	notJSON := hdr(`alg: HS256`) + "." + body + "." + sig

	cases := []struct {
		name, path, rule string
		kind             grantfile.Kind
	}{
		{"a FIFO", fifo, "named pipe", grantfile.JWT},
		{"a symlink to a FIFO", fifoLink, "named pipe", grantfile.JWT},
		{"/dev/zero", "/dev/zero", "device", grantfile.JWT},
		{"a directory", dir, "directory", grantfile.JWT},
		{"a 100 MB sparse file", sparse, "larger than 64 KiB", grantfile.JWT},
		{"a symlink to an unreadable shadow-like file", shadowLink, "", grantfile.JWT},
		{"a missing file", filepath.Join(dir, "missing"), "no such file", grantfile.JWT},
		{"a shadow-like file as a JWT", write(t, dir, "shadow2", shadow, 0o600), "not a JWT", grantfile.JWT},
		{"an SSH key as a JWT", write(t, dir, "id_rsa", testKey(t), 0o600), "not a JWT", grantfile.JWT},
		{"an empty file", write(t, dir, "empty", " \n", 0o600), "empty", grantfile.JWT},
		{"alg none", write(t, dir, "none", unsigned, 0o600), "not a JWT", grantfile.JWT},
		{"alg None, signed", write(t, dir, "none2", unsignedSig, 0o600), "unsigned", grantfile.JWT},
		{"no alg", write(t, dir, "noalg", noAlg, 0o600), "no signing algorithm", grantfile.JWT},
		{"a header that is not JSON", write(t, dir, "notjson", notJSON, 0o600), "header is not a JSON object", grantfile.JWT},
		{"an expired JWT", write(t, dir, "expired", testJWT(t, time.Now().Add(-time.Minute)), 0o600), "expired", grantfile.JWT},
		{"a JWT as a key", write(t, dir, "jwt-as-key", tok, 0o600), "not PEM", grantfile.PrivateKey},
		{"a broken key", write(t, dir, "broken.pem", "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n", 0o600), "cannot be parsed", grantfile.PrivateKey},
		{"a two-line secret", write(t, dir, "secret2", "line1\nline2", 0o600), "printable text on one line", grantfile.Secret},
		{"a binary secret", write(t, dir, "secret3", "\xff\xfe", 0o600), "not text", grantfile.Secret},
		{"a large secret", write(t, dir, "secret4", strings.Repeat("s", grantfile.Limit+1), 0o600), "larger than 64 KiB", grantfile.Secret},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readSoon(t, c.path, c.kind)
			if err == nil {
				t.Fatalf("Read(%s) accepted it (%d bytes)", c.path, len(got))
			}
			msg := err.Error()
			if !strings.Contains(msg, c.path) || !strings.Contains(msg, c.rule) {
				t.Fatalf("error %q: want it to name %s and %q", msg, c.path, c.rule)
			}
			for _, secret := range []string{"saltsalt", tok, sig, body, "line1", "c2VjcmV0"} {
				if strings.Contains(strings.ReplaceAll(msg, c.path, ""), secret) {
					t.Fatalf("error %q quotes the content", msg)
				}
			}
		})
	}
	if !errors.Is(func() error { _, err := grantfile.Read(cases[14].path, grantfile.JWT); return err }(), grantfile.ErrExpired) {
		t.Fatal("an expired JWT's error does not wrap ErrExpired")
	}
}

// TestCheck: pasted and uploaded values follow the file rules.
func TestCheck(t *testing.T) {
	tok := testJWT(t, time.Now().Add(time.Hour))
	if got, err := grantfile.Check("the pasted JWT", "\n"+tok+" ", grantfile.JWT); err != nil || got != tok {
		t.Fatalf("Check(JWT) = %q, %v", got, err)
	}
	for _, c := range []struct {
		v    string
		kind grantfile.Kind
		rule string
	}{
		{"robot-s3cret", grantfile.JWT, "not a JWT"},
		{tok + strings.Repeat(" ", grantfile.Limit), grantfile.JWT, "larger than 64 KiB"},
		{"", grantfile.Secret, "empty"},
		{"a\tb", grantfile.Secret, "printable"},
		{tok, grantfile.PrivateKey, "not PEM"},
	} {
		_, err := grantfile.Check("the value", c.v, c.kind)
		if err == nil || !strings.HasPrefix(err.Error(), "the value: ") || !strings.Contains(err.Error(), c.rule) {
			t.Errorf("Check(%.20q) = %v; want %q", c.v, err, c.rule)
		}
		if err != nil && c.v != "" && strings.Contains(err.Error(), strings.TrimSpace(c.v)) {
			t.Errorf("error %q quotes the value", err)
		}
	}
}
