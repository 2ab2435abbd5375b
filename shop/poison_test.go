package shop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
)

func TestUnregisteredOrInvalidEventsAreNeverApplied(t *testing.T) {
	e := newEnv(t)
	query := e.start("query") // MaxDeliver 3 in tests
	publish := func(typ string, data string) {
		t.Helper()
		ev := event.Envelope{SpecVersion: "1.0", ID: event.NewID(), Source: "/test", Type: typ, Subject: "7",
			DataContentType: "application/json", Data: json.RawMessage(data), EntityVersion: 1}
		raw, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.bus.Publish(context.Background(), "shop.product.created", ev.ID, raw); err != nil {
			t.Fatal(err)
		}
	}
	publish("shop.product.created.v9", `{"id":7,"title":"from the future","image":"v9.png"}`) // unregistered type
	publish(event.ProductCreated, `{"id":7,"title":"","image":"x.png"}`)                      // empty title
	publish(event.ProductCreated, `{"id":7,"title":"t","image":"x.png","price":3}`)           // unknown field
	publish(event.ProductCreated, `{"id":-7,"title":"t","image":"x.png"}`)                    // not an id
	publish(event.ProductCreated, `{"id":8,"title":"fine","image":"fine.png"}`)               // a valid one after them

	dead := waitDeadLetters(t, e, "shop-query", 4)
	for _, d := range dead {
		if d.Attempts != 3 {
			t.Errorf("dead letter %d after %d attempts, want 3", d.Seq, d.Attempts)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		var n int
		if err := query.DB.QueryRow(`SELECT count(*) FROM products WHERE id = 8`).Scan(&n); err != nil || n != 1 {
			return fmt.Errorf("the valid event after the bad ones is not applied (%d, %v)", n, err)
		}
		return nil
	})
	var bad int
	if err := query.DB.QueryRow(`SELECT count(*) FROM products WHERE id IN (7, -7)`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("%d products from invalid events in the read model (%v)", bad, err)
	}
}
