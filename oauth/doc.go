// Package oauth is mcpauthd's engine: the client side of the MCP authorization
// specification (2026-07-28, with the 2025-11-25 and 2025-03-26 behaviours it
// keeps), as stateless steps.
//
// The steps, in the order a login runs them:
//
//	Probe     ask the MCP server without a token; read its challenge
//	Discover  protected-resource metadata (RFC 9728), then authorization-server
//	          metadata (RFC 8414 / OpenID Connect Discovery), validated
//	Register  pre-registered credentials, a Client ID Metadata Document, or
//	          dynamic registration (RFC 7591), bound to the issuer
//	Authorize an authorization URL with PKCE S256, state and resource (RFC 8707);
//	          then Complete with the URL the authorization server redirected
//	          to: state and iss (RFC 9207) checks, and the code exchange
//	Refresh   a refresh-token grant that returns the rotated refresh token
//	Revoke    RFC 7009 revocation
//
// [Flow] strings the steps together for callers (the daemon, the conformance
// adapter) and takes its persistence and its browser as arguments: this package
// stores nothing itself. A [Session] keeps one server's grant and decides what
// a refusal means (refresh, sign in again, step up); a [Transport] with a
// [SessionSource] sends requests with its tokens. The package example signs in
// and calls a server with nothing else. To take tokens from a running mcpauthd
// instead, use the ipc package and ipcsource.Source.
//
// Errors are [*Error] values that name the step, the check that failed and the
// URL involved. No error, and no log line, produced here contains a token, an
// authorization code, a PKCE verifier or a client secret.
package oauth
