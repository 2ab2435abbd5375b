package shop_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
)

// TestAWriteWaitsForTheEventsItsTokenNames: an order placed with the
// product's consistency token (Herald-After) waits until orders has heard
// of the product, instead of being refused because its event is still on
// the way; a wait that runs out says stale and refuses as before.
func TestAWriteWaitsForTheEventsItsTokenNames(t *testing.T) {
	e := newEnv(t)
	st := newStaller(t)
	s := e.startShop("orders", st)
	user := createUser(t, s["users"], "Ann")
	placeOrder(t, s["orders"], user, createProduct(t, s["products"], "hat", "hat.png")) // orders knows Ann

	st.stall()
	raw, _ := json.Marshal(map[string]string{"title": "scarf", "image": "scarf.png"})
	code, h, b := testenv.Send(t, http.MethodPost, s["products"].URL()+"/products", "application/json", bytes.NewReader(raw))
	var scarf struct{ ID int64 }
	if code != http.StatusCreated || json.Unmarshal(b, &scarf) != nil || h.Get(service.HeaderToken) == "" {
		t.Fatalf("create the scarf: %d %s, token %q", code, b, h.Get(service.HeaderToken))
	}
	token := h.Get(service.HeaderToken)
	order := func(header ...string) (int, string, string, time.Duration) {
		raw, _ := json.Marshal(map[string]int64{"userId": user, "productId": scarf.ID})
		start := time.Now()
		code, h, b := testenv.Send(t, http.MethodPost, s["orders"].URL()+"/orders", "application/json", bytes.NewReader(raw), header...)
		return code, h.Get(service.HeaderConsistency), string(b), time.Since(start)
	}
	if code, c, b, _ := order(); code != http.StatusUnprocessableEntity || c != "" {
		t.Fatalf("an order before orders heard of the scarf, without a token: %d %q %s, want 422 at once", code, c, b)
	}
	code, c, body, took := order(service.HeaderAfter, token, service.HeaderWait, "300ms")
	if code != http.StatusUnprocessableEntity || c != service.Stale || took < 300*time.Millisecond {
		t.Fatalf("with the token, orders still stalled: %d %q %s after %s, want 422 stale after 300ms", code, c, body, took)
	}
	st.free()
	code, c, body, _ = order(service.HeaderAfter, token, service.HeaderWait, "10s")
	if code != http.StatusCreated || c != service.Fresh {
		t.Fatalf("with the token once orders can hear of it: %d %q %s, want 201 fresh", code, c, body)
	}

}
