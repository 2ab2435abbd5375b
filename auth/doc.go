// Package auth signs and verifies Herald's access tokens and hashes
// passwords. It is a library: it holds no global state, and the services and
// the binary decide where its files live and which routes need a token.
//
// # Design
//
// The users service is the only one that signs. It holds an Ed25519 private
// key (signing.pem in the data dir, mode 0600) and, on POST /sessions, checks
// the password against its Argon2id hash (HashPassword, CheckPassword) and
// issues a short-lived EdDSA JWT (Issuer.Issue, 15 minutes by default).
//
// Every service verifies tokens locally with the public keys, which are
// published as a JWK set (jwks.json in the data dir, RFC 7517/8037). No
// service calls users per request: a Verifier needs only the key set, and a
// token it has verified once is answered from a bounded cache until it
// expires, so the hot read path pays for one Ed25519 verification per token,
// not per request.
//
// Keys rotate without downtime. Rotate makes a new signing key current and
// keeps the previous public keys in jwks.json, so tokens signed before the
// rotation verify until they expire. A Verifier built with NewVerifierFile
// re-reads jwks.json when a token names a key id it does not know, at most
// once every 10 seconds, so a key rotated in by another process is picked up
// without a restart.
//
// `herald up` calls Ensure at start: it creates the key and the key set on
// the first start and reuses them afterwards, and it issues an operator token
// (Issuer.IssueOperator) for routes wrapped in RequireAdmin.
//
// # HTTP
//
// Verifier.Middleware puts the verified *Claims in the request context and
// answers 401 with a problem+json body for a token that is invalid; a
// request without a token passes through, and each route decides with
// Require, RequireOwner or RequireAdmin whether it needs one.
package auth
