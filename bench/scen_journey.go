package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldev/herald/service"
)

// runJourney measures what following events costs. First, write-to-view
// (POST /orders until each is in the query) with tracing on, spans kept in
// the in-memory ring as herald up does, against the same rig with
// --no-tracing. Then a read carrying a consistency token (Herald-After)
// whose event the view already has, against the same read without one:
// the price of read-your-writes when there is nothing to wait for.
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
			return Load{Conns: e.sz.Conns, Duration: e.sz.Duration, Request: r.postOrder, Seed: uint64(300 + round)}
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

	// A token whose event the view has: one more order, read back fresh.
	token, user, err := freshToken(ctx, traced)
	if err != nil {
		return err
	}
	reads := &Comparison{
		Name: "read your writes",
		Show: []string{"req_per_s", "p50_ms", "p99_ms"},
		Targets: []Target{
			{Text: "a fresh Herald-After read's p50 ≤ 1.5x a plain read's", Key: "p50_ms", Ratio: true, Op: "<=", Value: 1.5},
		},
	}
	e.note("read your writes: GET /users/{id}/products of random users on the traced rig, with and without %s: %s", service.HeaderAfter, token)
	read := func(after string) Request {
		return func(rnd *rand.Rand) (*http.Request, func(int, []byte) Outcome) {
			u := 1 + rnd.IntN(traced.users)
			req, _ := http.NewRequest(http.MethodGet, traced.queryURL+"/users/"+strconv.Itoa(u)+"/products", nil)
			if after != "" {
				req.Header.Set(service.HeaderAfter, after)
			}
			return req, func(status int, _ []byte) Outcome {
				if status == http.StatusOK || status == http.StatusNotFound && u != user {
					return OK
				}
				return Failed
			}
		}
	}
	return e.alternate(ctx, reads,
		e.httpSide("journey", "read with "+service.HeaderAfter+" (fresh)", "", "", read(token)),
		e.httpSide("journey", "plain read", "", "", read("")))
}

// freshToken places an order on r, waits until the query answers it fresh,
// and returns its consistency token and user.
func freshToken(ctx context.Context, r *shopRig) (string, int, error) {
	user := 1
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.ordersURL+"/orders", strings.NewReader(`{"userId":1,"productId":1}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("place an order for a token: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	token := resp.Header.Get(service.HeaderToken)
	if resp.StatusCode != http.StatusCreated || token == "" {
		return "", 0, fmt.Errorf("place an order for a token: %s, token %q", resp.Status, token)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.queryURL+"/users/1/products", nil)
		req.Header.Set(service.HeaderAfter, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get(service.HeaderConsistency) == service.Fresh {
			return token, user, nil
		}
		if time.Now().After(deadline) {
			return "", 0, fmt.Errorf("the query never answered %s fresh (last: %q)", token, resp.Header.Get(service.HeaderConsistency))
		}
	}
}
