package httpapi

import (
	"github.com/danielgtaylor/huma/v2"
)

// Bearer is the OpenAPI security requirement of a route that needs a
// token (Operation.Security): the "bearer" scheme NewAPI declares.
var Bearer = []map[string][]string{{"bearer": {}}}

// bearerScheme is how a caller authenticates: a token from the users
// service's POST /sessions (or the operator token herald up writes).
var bearerScheme = &huma.SecurityScheme{
	Type: "http", Scheme: "bearer", BearerFormat: "JWT",
	Description: "A token from the shop users service's POST /sessions (EdDSA JWT, 15 minutes), or the operator token herald up writes to <data>/secrets/admin.token.",
}

// Forbidden is the 403 of a caller whose valid token lacks the right to do
// what it asked, naming the input at fault (a location such as
// "body.userId"), if any.
func Forbidden(detail, location string) error {
	if location == "" {
		return huma.Error403Forbidden(detail)
	}
	return huma.Error403Forbidden(detail, &huma.ErrorDetail{Message: detail, Location: location})
}
