package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/heraldev/herald/service"
)

// runJourney measures what following events costs. First, write-to-view
// (POST /orders until each is in the query) with tracing on, spans kept in
// the in-memory ring as herald up does, against the same rig with
// --no-tracing. Then a read carrying a consistency token (Herald-After)
// whose event the view already has, against the same read without one:
// the price of read-your-writes when there is nothing to wait for. The
// token is that of a user's own order: a new user signs up and in on the
// traced rig and orders with the user's token.
func runJourney(ctx context.Context, e *env) error {
	traced, err := e.startShopRig(ctx, "traced", "traced", false)
	if err != nil {
		return err
	}
	untraced, err := e.startShopRig(ctx, "untraced", "untraced", false, "--no-tracing")
	if err != nil {
		return err
	}
	c := &Comparison{
		Name:    "tracing",
		Show:    []string{"per_s", "accepted_per_s", "p50_ms", "p99_ms", "lag_p99_ms"},
		Targets: []Target{{Text: "write-to-view with tracing on (ring) ≥ 0.9x tracing off", Key: "per_s", Ratio: true, Op: ">=", Value: 0.9}},
	}
	rigSide := func(r *shopRig, what string) side {
		load := func(round int) Load {
			return Load{Conns: e.sz.Conns, Duration: e.sz.Duration, Raw: r.postOrders(), Seed: uint64(300 + round)}
		}
		return side{
			what: what,
			warm: func(ctx context.Context) error {
				l := load(0)
				l.Duration = e.sz.Warm
				_, err := r.heraldRound(ctx, "journey: warming up "+what, 0, l, false, false)
				return err
			},
			run: func(ctx context.Context, round int) (Figures, error) {
				return r.heraldRound(ctx, fmt.Sprintf("journey: %s, round %d/%d", what, round, e.sz.Rounds), round, load(round), round == 1, false)
			},
		}
	}
	if err := e.alternate(ctx, c, rigSide(traced, "herald, tracing on (ring)"), rigSide(untraced, "herald, --no-tracing")); err != nil {
		return err
	}

	// A token whose event the view has: a new user's order, read back fresh.
	token, user, err := freshToken(ctx, traced)
	if err != nil {
		return err
	}
	admin := e.adminToken()
	reads := &Comparison{
		Name: "read your writes",
		Show: []string{"req_per_s", "p50_ms", "p99_ms"},
		Targets: []Target{
			{Text: "a fresh Herald-After read's p50 ≤ 1.5x a plain read's", Key: "p50_ms", Ratio: true, Op: "<=", Value: 1.5},
		},
	}
	e.note("read your writes: GET /users/{id}/products of random users on the traced rig, as the operator, with and without %s: %s (user %d's order)",
		service.HeaderAfter, token, user)
	read := func(after string) Load {
		h := bearerHeader(admin)
		if after != "" {
			h.Set(service.HeaderAfter, after)
		}
		return Load{Raw: &RawGets{URL: traced.queryURL, Header: h, Get: func(rnd *rand.Rand) (string, func(int, []byte) Outcome) {
			u := 1 + rnd.IntN(traced.users)
			return userProductsPath(u), func(status int, _ []byte) Outcome {
				if status == http.StatusOK || status == http.StatusNotFound && int64(u) != user {
					return OK
				}
				return Failed
			}
		}}}
	}
	return e.alternate(ctx, reads,
		e.httpSide("journey", "read with "+service.HeaderAfter+" (fresh)", "", "", read(token)),
		e.httpSide("journey", "plain read", "", "", read("")))
}

// freshToken starts users on r, signs a new user up with a password and in
// (POST /sessions), places an order with the user's token (once orders has
// heard of the user), waits until the query answers the user (with that
// token) fresh, and returns the order's consistency token and the user.
func freshToken(ctx context.Context, r *shopRig) (string, int64, error) {
	users, err := r.e.serve(ctx, "users", r.busURL, r.data)
	if err != nil {
		return "", 0, err
	}
	user, userToken, err := signUp(ctx, users.URL("users"), "Journey Bench", "journey@example.com", "a long bench password")
	if err != nil {
		return "", 0, err
	}
	var token string
	body := fmt.Sprintf(`{"userId":%d,"productId":1}`, user)
	err = poll(ctx, 30*time.Second, 20*time.Millisecond, fmt.Sprintf("orders accepting user %d's order", user), func() (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.ordersURL+"/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(bearer(req, userToken))
		if err != nil {
			return false, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch token = resp.Header.Get(service.HeaderToken); {
		case resp.StatusCode == http.StatusUnprocessableEntity: // orders has not heard of the user yet
			return false, fmt.Errorf("%s: %s", resp.Status, truncate(string(b), 200))
		case resp.StatusCode != http.StatusCreated || token == "":
			return false, fmt.Errorf("place an order for a token: %s, token %q: %s", resp.Status, token, truncate(string(b), 200))
		}
		return true, nil
	})
	if err != nil {
		return "", 0, err
	}
	var last string
	err = poll(ctx, 30*time.Second, 5*time.Millisecond, fmt.Sprintf("the query answering %s fresh", token), func() (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/users/%d/products", r.queryURL, user), nil)
		req.Header.Set(service.HeaderAfter, token)
		resp, err := http.DefaultClient.Do(bearer(req, userToken))
		if err != nil {
			return false, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		last = resp.Header.Get(service.HeaderConsistency)
		return resp.StatusCode == http.StatusOK && last == service.Fresh, nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("%w (last: %q)", err, last)
	}
	return token, user, nil
}
