package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/catalogue"
)

// doors decides who may post which events through the gateway: no one an
// event type a Herald service owns (unless its owner runs outside Herald),
// and, with tokens, only the holder of a token that names the type. It is
// safe for concurrent use (it never changes).
type doors struct {
	owner    func(typ string) (catalogue.Service, bool)
	external []string
	tokens   []gatewayToken // nil: /events is open
}

type gatewayToken struct {
	sum   [sha256.Size]byte // of the token: compared in constant time
	types []string          // "*" for any
}

func newDoors(app catalogue.App, cfg Config) *doors {
	d := &doors{owner: app.Owner, external: cfg.External}
	for tok, types := range cfg.Tokens {
		d.tokens = append(d.tokens, gatewayToken{sum: sha256.Sum256([]byte(tok)), types: types})
	}
	return d
}

// refusal is why a request may not post (or read) events.
type refusal struct {
	status int
	detail string
}

// token returns the gateway token r carries, ok false (with the refusal
// to answer) if tokens are required and r has none that matches. An
// operator's token (admin claims) passes as a token for any type.
func (d *doors) token(r *http.Request) (*gatewayToken, *refusal) {
	if d.tokens == nil {
		return nil, nil
	}
	if c, ok := auth.FromContext(r.Context()); ok && c.IsAdmin() {
		return &gatewayToken{types: []string{"*"}}, nil
	}
	tok, ok := auth.Bearer(r)
	if !ok {
		return nil, &refusal{http.StatusUnauthorized, "this gateway needs a token (--gateway-token): send Authorization: Bearer <token>"}
	}
	sum := sha256.Sum256([]byte(tok))
	for i := range d.tokens {
		if subtle.ConstantTimeCompare(sum[:], d.tokens[i].sum[:]) == 1 {
			return &d.tokens[i], nil
		}
	}
	return nil, &refusal{http.StatusUnauthorized, "this token is not one of the gateway's (--gateway-token)"}
}

// mayPost returns why r may not post an event of type typ, or nil.
func (d *doors) mayPost(r *http.Request, typ string) *refusal {
	if owner, ok := d.owner(typ); ok && owner.Name != Name && !slices.Contains(d.external, typ) {
		return &refusal{http.StatusForbidden, fmt.Sprintf(
			"%s events belong to Herald's %s service, and an outside client may not post them: nothing was stored. "+
				"If %s runs outside Herald (the tutorial's own service), run the gateway without Herald's %s (herald up gateway) or declare it: --external %s",
			typ, owner.Name, owner.Name, owner.Name, owner.Name)}
	}
	t, denied := d.token(r)
	if denied != nil {
		return denied
	}
	if t != nil && !slices.Contains(t.types, "*") && !slices.Contains(t.types, typ) {
		types := slices.Clone(t.types)
		sort.Strings(types)
		return &refusal{http.StatusForbidden, fmt.Sprintf("this gateway token may post only %s, not %s", strings.Join(types, ", "), typ)}
	}
	return nil
}

// mayRead returns why r may not read the history, or nil.
func (d *doors) mayRead(r *http.Request) *refusal {
	_, denied := d.token(r)
	return denied
}

func (f *refusal) write(w http.ResponseWriter) {
	if f.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	writeProblem(w, f.status, f.detail)
}
