package shop_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/internal/testenv"
)

// buggyUntilFixed fails every message containing "poison" until fixed is set,
// like a handler with a bug that a later deploy fixes. It counts the poison
// messages it applied.
func buggyUntilFixed(fixed *atomic.Bool, applied *atomic.Int32) func(bus.Handler) bus.Handler {
	return func(h bus.Handler) bus.Handler {
		return func(ctx context.Context, m bus.Message) error {
			if !strings.Contains(string(m.Data), "poison") {
				return h(ctx, m)
			}
			if !fixed.Load() {
				return errors.New("bug: cannot handle poison")
			}
			err := h(ctx, m)
			if err == nil {
				applied.Add(1)
			}
			return err
		}
	}
}

func waitDeadLetters(t *testing.T, e *env, consumer string, n int) []bus.DeadLetter {
	t.Helper()
	var dead []bus.DeadLetter
	testenv.Eventually(t, 15*time.Second, func() error {
		var err error
		if dead, err = e.bus.DeadLetters(context.Background(), consumer); err != nil {
			return err
		}
		if len(dead) != n {
			return fmt.Errorf("%d dead letters for %s, want %d", len(dead), consumer, n)
		}
		return nil
	})
	return dead
}

func TestRedriveOfAFixedPoisonEventAppliesItExactlyOnce(t *testing.T) {
	e := newEnv(t)
	var fixed atomic.Bool
	var applied atomic.Int32
	s := map[string]*svc{}
	for _, n := range []string{"users", "products", "orders"} {
		s[n] = e.start(n)
	}
	s["query"] = e.start("query", withWrap(buggyUntilFixed(&fixed, &applied)))

	user := createUser(t, s["users"], "Redrive")
	poison := createProduct(t, s["products"], "poison", "skull.png")
	placeOrder(t, s["orders"], user, poison) // orders has no bug: it knows the product
	waitView(t, s["query"], user, []product{})
	dead := waitDeadLetters(t, e, "shop-query", 1)

	fixed.Store(true) // the fix is deployed
	if err := e.bus.Redrive(context.Background(), dead[0].Seq); err != nil {
		t.Fatal(err)
	}
	waitView(t, s["query"], user, []product{{ID: poison, Title: "poison", Image: "skull.png"}})
	waitDeadLetters(t, e, "shop-query", 0)

	// A second redrive of the same dead letter finds nothing to redrive.
	if err := e.bus.Redrive(context.Background(), dead[0].Seq); !errors.Is(err, jetstream.ErrNoDeadLetter) {
		t.Fatalf("second redrive: %v, want ErrNoDeadLetter", err)
	}
	// A later event proves the consumer moved past the redrive: by then any
	// second application would have happened.
	other := createUser(t, s["users"], "After")
	waitView(t, s["query"], other, []product{})
	if n := applied.Load(); n != 1 {
		t.Fatalf("the redriven event was applied %d times, want exactly once", n)
	}
	// The redrive went to the query's consumer only: orders, which handled the
	// original fine, received no copy.
	if d := s["orders"].Duplicates(); d != 0 {
		t.Fatalf("orders saw %d duplicates; the redrive reached a consumer that had not failed", d)
	}
}

func TestDiscardedDeadLetterIsGoneAndNeverApplied(t *testing.T) {
	e := newEnv(t)
	var fixed atomic.Bool
	var applied atomic.Int32
	products := e.start("products")
	e.start("query", withWrap(buggyUntilFixed(&fixed, &applied)))

	createProduct(t, products, "poison", "skull.png")
	dead := waitDeadLetters(t, e, "shop-query", 1)
	if err := e.bus.Discard(context.Background(), dead[0].Seq); err != nil {
		t.Fatal(err)
	}
	waitDeadLetters(t, e, "shop-query", 0)
	if err := e.bus.Discard(context.Background(), dead[0].Seq); !errors.Is(err, jetstream.ErrNoDeadLetter) {
		t.Fatalf("second discard: %v, want ErrNoDeadLetter", err)
	}
	if n := applied.Load(); n != 0 {
		t.Fatalf("a discarded event was applied %d times", n)
	}
}
