package users

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/httpapi"
)

type createInput struct {
	Body struct {
		Name  string `json:"name" minLength:"1" maxLength:"200" doc:"Display name"`
		Email string `json:"email" minLength:"3" maxLength:"320" format:"email" doc:"Email address; unique"`
		// Never logged, stored only as an Argon2id hash, never in an event.
		Password string `json:"password" minLength:"10" maxLength:"256" writeOnly:"true" doc:"At least 10 characters; sign in with it at POST /sessions"`
	}
}

type signInInput struct {
	Body struct {
		Email    string `json:"email" minLength:"3" maxLength:"320" doc:"The email signed up with"`
		Password string `json:"password" minLength:"1" maxLength:"256" writeOnly:"true"`
	}
}

// Session is a signed-in user's token.
type Session struct {
	Token     string    `json:"token" doc:"Send it as Authorization: Bearer <token> to every service; each verifies it locally"`
	TokenType string    `json:"tokenType" example:"Bearer"`
	ExpiresAt time.Time `json:"expiresAt" doc:"Sign in again after this"`
	UserID    int64     `json:"userId"`
	Role      auth.Role `json:"role" enum:"user,admin"`
}

type sessionOutput struct {
	Body Session
}

func (in *createInput) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	errs := append(httpapi.NotBlank(prefix, map[string]*string{"body.name": &in.Body.Name}),
		httpapi.SingleLine(prefix, map[string]*string{"body.name": &in.Body.Name, "body.email": &in.Body.Email})...)
	// format:"email" accepts "Name <addr>"; only a bare address is an email
	// here, or "Bob <ann@example.com>" would slip past the uniqueness check.
	if a, err := mail.ParseAddress(in.Body.Email); err == nil && a.Address != in.Body.Email {
		errs = append(errs, &huma.ErrorDetail{Location: prefix.With("body.email"), Message: "must be a bare address such as ann@example.com, without a name or angle brackets", Value: in.Body.Email})
	}
	return errs
}

type getInput struct {
	ID int64 `path:"id" minimum:"1" doc:"User id"`
}

type createdOutput struct {
	Location string `header:"Location"`
	Body     User
}

type userOutput struct {
	Body User
}

// tooMany is the 429 of a caller over a rate limit, with Retry-After.
func tooMany(wait time.Duration) error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return huma.ErrorWithHeaders(
		huma.Error429TooManyRequests(fmt.Sprintf("too many sign-in attempts for this email; retry in %ds", secs)),
		http.Header{"Retry-After": {strconv.Itoa(secs)}})
}

// Register adds the users routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: "/users",
		Summary: "Sign a user up", DefaultStatus: http.StatusCreated,
		Description: "Stores the user, with the password hashed, and emits shop.user.created.v1 (without the password) in the same transaction. Sign in with POST /sessions.",
	}, func(ctx context.Context, in *createInput) (*createdOutput, error) {
		u, err := s.Create(ctx, in.Body.Name, in.Body.Email, in.Body.Password)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &createdOutput{Location: "/users/" + strconv.FormatInt(u.ID, 10), Body: u}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "sign-in", Method: http.MethodPost, Path: "/sessions",
		Summary: "Sign in", DefaultStatus: http.StatusCreated,
		Description: "Answers a token (EdDSA JWT, 15 minutes) with the user's id and role, signed with the users service's key; every service verifies it locally with the public keys (jwks.json). 401 for a wrong email or password (which of the two is not said); 429 after too many attempts for one email or from one client.",
	}, func(ctx context.Context, in *signInInput) (*sessionOutput, error) {
		if s.issuer == nil {
			return nil, huma.Error503ServiceUnavailable("sign-in is not configured on this users service: start it with --auth-signing-key (herald up makes one in its data dir)")
		}
		if s.signins != nil {
			if ok, wait := s.signins.Allow(strings.ToLower(strings.TrimSpace(in.Body.Email))); !ok {
				return nil, tooMany(wait)
			}
		}
		u, role, err := s.SignIn(ctx, in.Body.Email, in.Body.Password)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		tok, exp, err := s.issuer.Issue(u.ID, role)
		if err != nil {
			return nil, httpapi.Error(ctx, log, fmt.Errorf("sign in user %d: %w", u.ID, err))
		}
		return &sessionOutput{Body: Session{Token: tok, TokenType: "Bearer", ExpiresAt: exp, UserID: u.ID, Role: role}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-user", Method: http.MethodGet, Path: "/users/{id}", Summary: "Get a user",
		Description: "Only that user (or an admin) may see it; for anyone else it does not exist (404).",
		Security:    httpapi.Bearer,
	}, func(ctx context.Context, in *getInput) (*userOutput, error) {
		c, err := auth.Require(ctx)
		if err != nil {
			return nil, err
		}
		if !c.Owns(in.ID) {
			return nil, httpapi.Error(ctx, log, notFound(in.ID))
		}
		u, err := s.Get(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &userOutput{Body: u}, nil
	})
}
