package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestAStoppedServiceStartsAgainAndCatchesUp: in herald up, products is
// stopped (its port refuses connections) while the query keeps answering
// and orders keep flowing; started again on the same address, products
// answers and its relay publishes what it could not while down.
func TestAStoppedServiceStartsAgainAndCatchesUp(t *testing.T) {
	dir := t.TempDir()
	m := upOnTCP(t, dir, "shop")
	tok := operatorToken(t, dir)
	url := func(name string) string { return m.Service(name).URL() }
	user := post(t, tok, url("users")+"/users", map[string]string{"name": "Cy", "email": "cy@example.com", "password": "correct horse battery"})
	hat := post(t, tok, url("products")+"/products", map[string]string{"title": "hat", "image": "hat.png"})
	post(t, tok, url("orders")+"/orders", map[string]int64{"userId": user, "productId": hat})
	view := fmt.Sprintf("%s/users/%d/products", url("query"), user)
	waitBodyAs(t, tok, view, fmt.Sprintf(`[{"id":%d,"title":"hat","image":"hat.png","price":0,"currency":"EUR"}]`, hat))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	productsURL := url("products")
	if err := m.running.StopService(ctx, "products"); err != nil {
		t.Fatal(err)
	}
	if m.running.Runs("products") {
		t.Fatal("products still reported running")
	}
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(productsURL + "/livez"); err == nil {
		resp.Body.Close()
		t.Fatal("a stopped products still answers")
	}
	waitBodyAs(t, tok, view, fmt.Sprintf(`[{"id":%d,"title":"hat","image":"hat.png","price":0,"currency":"EUR"}]`, hat))

	if err := m.running.StartService(ctx, "products"); err != nil {
		t.Fatal(err)
	}
	if url("products") != productsURL {
		t.Fatalf("products restarted at %s, want %s", url("products"), productsURL)
	}
	mug := post(t, tok, url("products")+"/products", map[string]string{"title": "mug", "image": "mug.png"})
	post(t, tok, url("orders")+"/orders", map[string]int64{"userId": user, "productId": mug})
	waitBodyAs(t, tok, view, fmt.Sprintf(`[{"id":%d,"title":"mug","image":"mug.png","price":0,"currency":"EUR"},{"id":%d,"title":"hat","image":"hat.png","price":0,"currency":"EUR"}]`, mug, hat))
}
