package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Role is what a token's holder may do.
type Role string

const (
	RoleUser  Role = "user"  // acts on its own user's data
	RoleAdmin Role = "admin" // acts on anyone's data and on operator routes
)

func (r Role) valid() bool { return r == RoleUser || r == RoleAdmin }

// Values every Herald token carries.
const (
	TokenIssuer     = "herald" // iss
	TokenAudience   = "herald" // aud
	OperatorSubject = "operator"
	DefaultTTL      = 15 * time.Minute
)

// Claims are the claims of a Herald access token. Subject is UserID as a
// decimal string, or OperatorSubject (with UserID 0 and RoleAdmin) for the
// operator token; Issuer and Audience are "herald"; IssuedAt, NotBefore,
// ExpiresAt and ID (a random jti) are always set by Issuer.
type Claims struct {
	UserID int64 `json:"uid"`
	Role   Role  `json:"role"`
	jwt.RegisteredClaims
}

// IsAdmin reports whether the claims carry the admin role. It is false for
// nil claims.
func (c *Claims) IsAdmin() bool { return c != nil && c.Role == RoleAdmin }

// Owns reports whether the holder may act on userID's data: it is that user,
// or an admin. It is false for nil claims.
func (c *Claims) Owns(userID int64) bool {
	return c.IsAdmin() || (c != nil && c.UserID > 0 && c.UserID == userID)
}

// check refuses claims Herald never issues, whatever their signature.
func (c *Claims) check() error {
	if !c.Role.valid() {
		return fmt.Errorf("role %q", c.Role)
	}
	if c.Subject == OperatorSubject && c.UserID == 0 && c.Role == RoleAdmin {
		return nil
	}
	if c.UserID <= 0 || c.Subject != strconv.FormatInt(c.UserID, 10) {
		return fmt.Errorf("sub %q does not match uid %d", c.Subject, c.UserID)
	}
	return nil
}

// Issuer signs tokens with Key. TTL is their lifetime (DefaultTTL if zero);
// Now is the clock (time.Now if nil). Set the fields before first use; after
// that an Issuer is safe for concurrent use.
type Issuer struct {
	Key SigningKey
	TTL time.Duration
	Now func() time.Time
}

// Issue returns a token for userID with the given role, and when it expires.
// It returns an error, and no token, if userID is not positive, the role is
// not RoleUser or RoleAdmin, TTL is negative, or the Issuer has no key.
func (i *Issuer) Issue(userID int64, role Role) (token string, exp time.Time, err error) {
	if userID <= 0 {
		return "", time.Time{}, fmt.Errorf("issue token: user id %d is not positive", userID)
	}
	if !role.valid() {
		return "", time.Time{}, fmt.Errorf("issue token: unknown role %q", role)
	}
	ttl := i.TTL
	switch {
	case ttl < 0:
		return "", time.Time{}, fmt.Errorf("issue token: ttl %v is negative", ttl)
	case ttl == 0:
		ttl = DefaultTTL
	}
	return i.sign(Claims{UserID: userID, Role: role}, strconv.FormatInt(userID, 10), ttl)
}

// IssueOperator returns an admin token for the operator (sub "operator",
// UserID 0) that lives for ttl, and when it expires: the token `herald up`
// writes to a file for operator routes. A ttl that is not positive, or an
// Issuer without a key, is an error.
func (i *Issuer) IssueOperator(ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 {
		return "", time.Time{}, fmt.Errorf("issue operator token: ttl %v is not positive", ttl)
	}
	return i.sign(Claims{Role: RoleAdmin}, OperatorSubject, ttl)
}

func (i *Issuer) sign(c Claims, sub string, ttl time.Duration) (string, time.Time, error) {
	if len(i.Key.Private) == 0 || i.Key.ID == "" {
		return "", time.Time{}, errors.New("issue token: the issuer has no signing key")
	}
	now := time.Now
	if i.Now != nil {
		now = i.Now
	}
	t := now()
	c.RegisteredClaims = jwt.RegisteredClaims{
		Issuer:    TokenIssuer,
		Subject:   sub,
		Audience:  jwt.ClaimStrings{TokenAudience},
		ExpiresAt: jwt.NewNumericDate(t.Add(ttl)),
		NotBefore: jwt.NewNumericDate(t),
		IssuedAt:  jwt.NewNumericDate(t),
		ID:        rand.Text(),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = i.Key.ID
	s, err := tok.SignedString(i.Key.Private)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue token: %w", err)
	}
	return s, c.ExpiresAt.Time, nil
}
