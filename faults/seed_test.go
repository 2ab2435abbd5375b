//go:build cluster

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/heraldev/herald/internal/testenv"
)

func init() { suiteName = "cluster suite" }

// seedWait bounds each step of the seed scenario that waits for events to
// travel: orders hearing of the user and products, the query roles showing
// an answer.
const seedWait = 30 * time.Second

// seedAnswers are the answers of GET /users/{id}/products in the seed
// scenario: after the two orders, and after the rename and the
// cancellation.
type seedAnswers struct {
	User          int64
	Ordered, Left []shown
}

// seedScenario runs the README's walkthrough against c, whatever its shape:
// user Ann signs up with a password and signs in (POST /sessions); the
// operator creates twenty products, the fifth "pants" (pants.jpeg) and the
// twentieth "shoes" (shoes.jpeg); Ann orders pants and then shoes with her
// own token (retrying while orders has not heard of her or them yet, 422);
// every query role must then answer Ann's GET /users/{id}/products with
// shoes and pants, newest order first, with their titles and images. Then
// the operator renames pants "jeans" and Ann cancels the shoes order, and
// every query role must answer her with jeans alone. Writes go through l
// (spread over the instances of a service) and are kept in l for the
// invariant checks. It fails the test if any step does not hold within
// seedWait.
func seedScenario(t *testing.T, c *cluster, l *load) seedAnswers {
	t.Helper()
	must := func(w write, what string) write {
		t.Helper()
		l.keep(w)
		if w.Outcome != ok {
			t.Fatalf("seed: %s answered %d (%s), want 2xx", what, w.Status, w.Detail)
		}
		return w
	}
	const email, password = "ann@example.com", "Ann's long password"
	base := l.url("users")
	user := must(l.send(opUser, "POST", base+"/users", map[string]string{"name": "Ann", "email": email, "password": password}), "POST /users")
	ann, err := l.signIn(base, email, password)
	if err != nil {
		t.Fatalf("seed: Ann signs in: %v", err)
	}
	if ann.UserID != user.ID {
		t.Fatalf("seed: Ann signed up as user %d, but her sign-in's token is user %d's", user.ID, ann.UserID)
	}
	var pants, shoes write
	for i := 1; i <= 20; i++ {
		title, image := fmt.Sprintf("item %d", i), fmt.Sprintf("item%d.png", i)
		switch i {
		case 5:
			title, image = "pants", "pants.jpeg"
		case 20:
			title, image = "shoes", "shoes.jpeg"
		}
		w := must(l.send(opProduct, "POST", l.url("products")+"/products", map[string]string{"title": title, "image": image}), "POST /products")
		switch i {
		case 5:
			pants = w
		case 20:
			shoes = w
		}
	}
	order := func(product int64) write {
		t.Helper()
		var w write
		err := waitFor(seedWait, 50*time.Millisecond, func() error {
			w = l.sendAs(ann.Token, opOrder, "POST", l.url("orders")+"/orders", map[string]int64{"userId": user.ID, "productId": product})
			l.keep(w)
			if w.Outcome == ok {
				return nil
			}
			if w.Status == http.StatusUnprocessableEntity { // orders has not heard of the user or product yet
				return fmt.Errorf("POST /orders answered 422: %s", w.Detail)
			}
			return fmt.Errorf("%w: POST /orders answered %d (%s)", errStuck, w.Status, w.Detail)
		})
		if err != nil {
			t.Fatalf("seed: order product %d for user %d: %v", product, user.ID, err)
		}
		return w
	}
	order(pants.ID)
	shoesOrder := order(shoes.ID)
	answers := seedAnswers{User: user.ID,
		Ordered: []shown{{shoes.ID, "shoes", "shoes.jpeg"}, {pants.ID, "pants", "pants.jpeg"}}}
	c.waitAnswer(t, ann, answers.Ordered)

	must(l.send(opUpdate, "PUT", fmt.Sprintf("%s/products/%d", l.url("products"), pants.ID), map[string]string{"title": "jeans"}), "PUT /products/{id}")
	must(l.sendAs(ann.Token, opCancel, "DELETE", fmt.Sprintf("%s/orders/%d", l.url("orders"), shoesOrder.ID), nil), "DELETE /orders/{id}")
	answers.Left = []shown{{pants.ID, "jeans", "pants.jpeg"}}
	c.waitAnswer(t, ann, answers.Left)
	return answers
}

// waitAnswer waits until every query role answers the signed-in user's GET
// /users/{id}/products (with the user's token) with want, and fails the
// test with each role's last answer if one does not within seedWait.
func (c *cluster) waitAnswer(t *testing.T, user session, want []shown) {
	t.Helper()
	for _, role := range c.roles("query") {
		var got []shown
		err := waitFor(seedWait, 50*time.Millisecond, func() error {
			var err error
			if got, err = c.answer(role, user.UserID, user.Token); err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("answers %v", got)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("seed: %s: GET /users/%d/products: %v, want %v", role, user.UserID, err, want)
		}
	}
}

// answer is one GET /users/{user}/products from a query role, sent with
// token.
func (c *cluster) answer(role string, user int64, token string) ([]shown, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/users/%d/products", c.url(role), user), nil)
	resp, err := c.http.Do(withToken(req, token))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %d: %s", resp.StatusCode, b)
	}
	var out []shown
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// scaledOut is the deployment of the cluster tests: three NATS nodes; users,
// products and orders each on a fresh PostgreSQL database; two orders
// instances sharing theirs; two query replicas, a and b. natsServer is an
// official nats-server binary to run the nodes, or "" for `herald bus`.
func scaledOut(t *testing.T, natsServer string) deployment {
	t.Helper()
	return deployment{
		BusNodes:   3,
		NATSServer: natsServer,
		DB:         map[string]string{"users": testenv.Postgres(t), "products": testenv.Postgres(t), "orders": testenv.Postgres(t)},
		Instances:  map[string]int{"orders": 2},
		Replicas:   []string{"a", "b"},
	}
}
