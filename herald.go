// Package herald holds the domain error type shared by every Herald service.
//
// It imports only the standard library: services create these errors where a
// rule is broken, and the HTTP layer (package httpapi) maps their codes to
// status codes in one table.
package herald

import "fmt"

// Code classifies an error by what the caller can do about it.
type Code string

const (
	EInvalid     Code = "invalid"     // the request breaks a rule; fix the input (HTTP 422)
	ENotFound    Code = "not_found"   // the entity does not exist (HTTP 404)
	EConflict    Code = "conflict"    // the entity's state forbids the change (HTTP 409)
	EUnavailable Code = "unavailable" // a dependency is down; retry later (HTTP 503)
	// EUnauthorized: no valid credentials; sign in (HTTP 401, with
	// WWW-Authenticate).
	EUnauthorized Code = "unauthorized"
	EForbidden    Code = "forbidden" // valid credentials without the right to do this (HTTP 403)
	EInternal     Code = "internal"  // a bug or an unexpected failure (HTTP 500)
)

// Error is an application error a person can act on.
type Error struct {
	Code    Code
	Message string // shown to the caller as is
	Field   string // the input field at fault, as a location such as "body.userId"; may be empty
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EInvalid error that names the field at fault.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Message: fmt.Sprintf(format, args...), Field: field}
}
