package reviews_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/examples/reviews"
	"github.com/heraldev/herald/examples/reviews/ratings"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// TestANewServiceJoinsTheShopWithOneCatalogueLine adds the reviews service
// and its ratings read model to the shop with one line, runs them with the
// shop's own services through catalogue.Start (what herald up and herald
// serve run), and sees the new events consumed, joined with the products'
// own events, while the shop keeps working.
func TestANewServiceJoinsTheShopWithOneCatalogueLine(t *testing.T) {
	app := shop.App().With(reviews.Descriptor, ratings.Descriptor) // the one line
	cat := catalogue.Catalogue{app}
	if err := cat.Check(); err != nil {
		t.Fatal(err)
	}
	targets, err := cat.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := testenv.NewNATS(t, filepath.Join(dir, "nats"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	running, err := catalogue.Start(ctx, n.Bus, targets, func(catalogue.Target) service.Config {
		return service.Config{DataDir: dir, Addr: "127.0.0.1:0", MaxDeliver: 3, Backoff: []time.Duration{20 * time.Millisecond}}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := running.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	url := func(name string) string { return running.Service(name).URL() }

	var product, user struct{ ID int64 }
	testenv.MustDo(t, http.StatusCreated, "POST", url("products")+"/products", map[string]string{"title": "pants", "image": "pants.jpeg"}, &product)
	testenv.MustDo(t, http.StatusCreated, "POST", url("users")+"/users", map[string]string{"name": "Ann", "email": "ann@example.com", "password": "correct horse battery staple"}, &user)
	for _, stars := range []int{4, 2} {
		testenv.MustDo(t, http.StatusCreated, "POST", url("reviews")+"/reviews", map[string]any{"productId": product.ID, "rating": stars}, nil)
	}
	want := ratings.Rating{ProductID: product.ID, Title: "pants", Reviews: 2, Average: 3}
	waitRating(t, url("ratings"), product.ID, want)

	// The read model follows the products' events too.
	testenv.MustDo(t, http.StatusOK, "PUT", fmt.Sprintf("%s/products/%d", url("products"), product.ID), map[string]string{"title": "jeans"}, nil)
	want.Title = "jeans"
	waitRating(t, url("ratings"), product.ID, want)

	// The shop's own services run beside the new ones as before.
	testenv.Eventually(t, 15*time.Second, func() error {
		code, raw := testenv.Do(t, "POST", url("orders")+"/orders", map[string]int64{"userId": user.ID, "productId": product.ID}, nil)
		if code != http.StatusCreated {
			return fmt.Errorf("order: status %d: %s", code, raw)
		}
		return nil
	})
	testenv.Eventually(t, 15*time.Second, func() error {
		var got []struct{ Title string }
		if code, raw := testenv.Do(t, "GET", fmt.Sprintf("%s/users/%d/products", url("query"), user.ID), nil, &got); code != http.StatusOK || len(got) != 1 || got[0].Title != "jeans" {
			return fmt.Errorf("query: status %d: %s", code, raw)
		}
		return nil
	})

	// The catalogue knows who publishes and who consumes the new event.
	d := cat.Describe()
	i := slices.IndexFunc(d.Apps[0].Events, func(e catalogue.EventInfo) bool { return e.Type == reviews.ReviewCreated })
	if i < 0 {
		t.Fatalf("%s is not in the catalogue: %+v", reviews.ReviewCreated, d.Apps[0].Events)
	}
	if e := d.Apps[0].Events[i]; e.Owner != "reviews" || len(e.Consumers) != 1 || e.Consumers[0].Name != "shop-ratings" {
		t.Fatalf("%s: owner %q, consumers %v; want reviews, and ratings' shop-ratings", e.Type, e.Owner, e.Consumers)
	}
}

func waitRating(t *testing.T, url string, product int64, want ratings.Rating) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, func() error {
		var got ratings.Rating
		code, raw := testenv.Do(t, "GET", fmt.Sprintf("%s/products/%d/rating", url, product), nil, &got)
		if code != http.StatusOK || got != want {
			return fmt.Errorf("status %d: %s; want %+v", code, raw, want)
		}
		return nil
	})
}
