package shop_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/shop/products"
	"github.com/heraldev/herald/store"
)

// priced is a product as products and query answer it since products
// have a price.
type priced struct {
	ID       int64  `json:"id"`
	Title    string `json:"title"`
	Image    string `json:"image"`
	Price    int64  `json:"price"`
	Currency string `json:"currency"`
}

// writeV1History does what the products service did before products had
// a price: it keeps products in its v1 schema, and publishes a
// shop.product.created.v1 or shop.product.updated.v1 event for each
// change, built and encoded by event.New and Encode, as its outbox did.
func (e *env) writeV1History(changes ...event.ProductData) {
	e.t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(e.dir, "shop-products.db"), products.Migrations[:2])
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	versions := map[int64]int64{}
	for _, p := range changes {
		versions[p.ID]++
		typ := event.ProductCreated
		if versions[p.ID] == 1 {
			_, err = db.Exec(`INSERT INTO products (id, title, image, version, updated_at) VALUES ($1, $2, $3, 1, $4)`,
				p.ID, p.Title, p.Image, time.Now().UTC().Format(time.RFC3339Nano))
		} else {
			typ = event.ProductUpdated
			_, err = db.Exec(`UPDATE products SET title = $2, image = $3, version = $4 WHERE id = $1`, p.ID, p.Title, p.Image, versions[p.ID])
		}
		if err != nil {
			e.t.Fatal(err)
		}
		ev, err := event.New(products.Source, typ, strconv.FormatInt(p.ID, 10), versions[p.ID], p)
		if err != nil {
			e.t.Fatal(err)
		}
		raw, err := ev.Encode()
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.bus.Publish(context.Background(), event.Subject(typ), ev.ID, raw); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestProductsFromBeforePricesShowAtZeroEURBesideNewOnes: a shop whose
// products were created and changed before products had a price (v1
// events on the stream, the v1 schema in products' database) is upgraded.
// The new query and orders replay the v1 events, read as v2 with price 0
// EUR; products keeps its products at 0 EUR and emits v2 from now on; a
// product posted with a price shows it, and so does an old product given
// one.
func TestProductsFromBeforePricesShowAtZeroEURBesideNewOnes(t *testing.T) {
	e := newEnv(t)
	e.writeV1History(
		event.ProductData{ID: 1, Title: "hat", Image: "hat.png"},
		event.ProductData{ID: 2, Title: "mug", Image: "mug.png"},
		event.ProductData{ID: 1, Title: "red hat", Image: "hat.png"},
	)
	s := e.startAll()
	ann := createUser(t, s["users"], "Ann")

	var old priced
	testenv.MustDo(t, http.StatusOK, "GET", s["products"].URL()+"/products/1", nil, &old)
	if want := (priced{1, "red hat", "hat.png", 0, "EUR"}); old != want {
		t.Fatalf("products answers a product from before prices as %+v, want %+v", old, want)
	}
	var lamp priced
	testenv.MustDo(t, http.StatusCreated, "POST", s["products"].URL()+"/products",
		map[string]any{"title": "lamp", "image": "lamp.png", "price": 1999, "currency": "USD"}, &lamp)
	if want := (priced{3, "lamp", "lamp.png", 1999, "USD"}); lamp != want {
		t.Fatalf("new product %+v, want %+v", lamp, want)
	}
	testenv.MustDo(t, http.StatusOK, "PUT", s["products"].URL()+"/products/2", map[string]any{"price": 450, "currency": "GBP"}, nil)

	for _, p := range []int64{1, 2, 3} { // orders knows 1 and 2 from their v1 events
		placeOrder(t, s["orders"], ann, p)
	}
	want := []priced{{3, "lamp", "lamp.png", 1999, "USD"}, {2, "mug", "mug.png", 450, "GBP"}, {1, "red hat", "hat.png", 0, "EUR"}}
	testenv.Eventually(t, 20*time.Second, func() error {
		var got []priced
		if code, raw := testenv.Do(t, "GET", fmt.Sprintf("%s/users/%d/products", s["query"].URL(), ann), nil, &got); code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, raw)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("got %v, want %v", got, want)
		}
		return nil
	})

	var types []string
	for _, m := range e.events() {
		if ev, err := event.Parse(m.Data); err == nil && ev.Source == products.Source {
			types = append(types, ev.Type)
		}
	}
	if wantTypes := fmt.Sprint([]string{event.ProductCreated, event.ProductCreated, event.ProductUpdated, event.ProductCreatedV2, event.ProductUpdatedV2}); fmt.Sprint(types) != wantTypes {
		t.Errorf("the stream holds products' events %v, want %s: the v1 history as written, v2 since", types, wantTypes)
	}
}
