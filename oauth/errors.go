package oauth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// Check names the validation that failed. Callers match with errors.Is
// against the sentinel values below (for example errors.Is(err, ErrResourceMismatch)).
type Check string

const (
	CheckServer           Check = "server_url"           // the MCP server URL itself is unusable
	CheckNoMetadata       Check = "no_metadata"          // no protected-resource metadata anywhere
	CheckBadMetadata      Check = "bad_metadata"         // metadata garbled, oversized or incomplete
	CheckResourceMismatch Check = "resource_mismatch"    // PRM resource differs from the server URL
	CheckIssuerMismatch   Check = "issuer_mismatch"      // AS metadata issuer differs from the issuer used
	CheckInsecureEndpoint Check = "insecure_endpoint"    // an endpoint is not https (or loopback http)
	CheckNoPKCE           Check = "pkce_s256"            // the AS does not advertise S256
	CheckRegistration     Check = "registration"         // no way to get a client id, or the AS refused
	CheckClientMismatch   Check = "client_issuer"        // pre-registered credentials belong to another AS
	CheckState            Check = "state"                // redirect does not answer our request
	CheckIssMissing       Check = "iss_missing"          // RFC 9207: advertised but absent
	CheckIssMismatch      Check = "iss_mismatch"         // RFC 9207: present and different
	CheckAuthorization    Check = "authorization_denied" // the AS answered the redirect with an error
	CheckToken            Check = "token"                // token endpoint refused or answered garbage
	CheckInvalidGrant     Check = "invalid_grant"        // refresh token no longer accepted
	CheckInvalidClient    Check = "invalid_client"       // client registration no longer accepted
	CheckStepUpLimit      Check = "step_up_limit"        // too many authorization attempts
	CheckNetwork          Check = "network"              // the peer could not be reached in time
	CheckRevocation       Check = "revocation"           // RFC 7009 revocation failed
	CheckGrantConfig      Check = "grant_config"         // a non-interactive grant is misconfigured (key, credentials, assertion)
	CheckDPoP             Check = "dpop"                 // a DPoP key or proof could not be used (RFC 9449)
)

// Error is the engine's error. Step says which protocol step failed
// ("discovery", "registration", "authorization", "token", "refresh",
// "revocation"), Check which validation, URL the endpoint involved.
// Msg is written for a person and never holds a secret.
type Error struct {
	Step  string
	Check Check
	URL   string
	Msg   string
	Err   error // underlying cause, already free of secrets
}

// Error reads "step (URL): Msg: cause", without the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Step)
	if e.URL != "" {
		b.WriteString(" (")
		b.WriteString(e.URL)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Check, so that
// errors.Is(err, ErrIssuerMismatch) works on any wrapped engine error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Step == "" && t.Check == e.Check
}

// Sentinels for errors.Is.
var (
	ErrNoMetadata       = &Error{Check: CheckNoMetadata}
	ErrBadMetadata      = &Error{Check: CheckBadMetadata}
	ErrResourceMismatch = &Error{Check: CheckResourceMismatch}
	ErrIssuerMismatch   = &Error{Check: CheckIssuerMismatch}
	ErrInsecureEndpoint = &Error{Check: CheckInsecureEndpoint}
	ErrNoPKCE           = &Error{Check: CheckNoPKCE}
	ErrRegistration     = &Error{Check: CheckRegistration}
	ErrClientMismatch   = &Error{Check: CheckClientMismatch}
	ErrState            = &Error{Check: CheckState}
	ErrIssMissing       = &Error{Check: CheckIssMissing}
	ErrIssMismatch      = &Error{Check: CheckIssMismatch}
	ErrAuthorization    = &Error{Check: CheckAuthorization}
	ErrToken            = &Error{Check: CheckToken}
	ErrInvalidGrant     = &Error{Check: CheckInvalidGrant}
	ErrInvalidClient    = &Error{Check: CheckInvalidClient}
	ErrStepUpLimit      = &Error{Check: CheckStepUpLimit}
	ErrNetwork          = &Error{Check: CheckNetwork}
	ErrServer           = &Error{Check: CheckServer}
	ErrRevocation       = &Error{Check: CheckRevocation}
	ErrGrantConfig      = &Error{Check: CheckGrantConfig}
	ErrDPoP             = &Error{Check: CheckDPoP}
)

func newErr(step string, check Check, url, format string, args ...any) *Error {
	return &Error{Step: step, Check: check, URL: url, Msg: fmt.Sprintf(format, args...)}
}

func wrapErr(step string, check Check, url string, err error, format string, args ...any) *Error {
	return &Error{Step: step, Check: check, URL: url, Msg: fmt.Sprintf(format, args...), Err: scrub(err)}
}

// scrub returns err unless its text could carry a response body. Libraries we
// call (oauthex registration, x/oauth2) put raw response bodies in some error
// strings, and a response body can hold a client secret or a token; those
// errors are replaced by their first clause.
func scrub(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	msg := err.Error()
	for _, cut := range []string{" (", "\nResponse:", ": {", ": [", "Response: "} {
		if i := strings.Index(msg, cut); i >= 0 {
			msg = msg[:i]
		}
	}
	// Library errors quote values from the document (a mismatched resource,
	// say), which a hostile server can make megabytes long.
	if len(msg) > maxCauseText {
		msg = strings.ToValidUTF8(msg[:maxCauseText], "") + "…"
	}
	return plainError(msg)
}

// maxCauseText bounds the text kept from a library's error.
const maxCauseText = budget.ErrorText

type plainError string

func (p plainError) Error() string { return string(p) }
