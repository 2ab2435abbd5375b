package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/shop/orders"
	"github.com/heraldev/herald/shop/products"
	"github.com/heraldev/herald/shop/query"
	"github.com/heraldev/herald/shop/users"
)

// Dataset is the shop data a scenario runs on. It is derived from Seed
// alone: the same Dataset gives the same users, products and orders, so
// every answer the query service should give can be computed without
// storing them.
//
// User u (1 to Users) has OrdersPerUser orders, with ids
// (u-1)*OrdersPerUser+1 onwards, each of a product chosen from a random
// source seeded by Seed and u; about one order in ten is cancelled.
// Products 1 to Products have titles and image URLs of 30 to 45 bytes.
type Dataset struct {
	Seed          uint64
	Users         int
	Products      int
	OrdersPerUser int
}

// Order is one order of the dataset.
type Order struct {
	ID, UserID, ProductID int64
	Cancelled             bool
}

var (
	adjectives = []string{"Vintage", "Compact", "Rustic", "Modern", "Classic", "Foldable", "Wireless", "Handmade",
		"Premium", "Portable", "Sturdy", "Elegant", "Minimal", "Oversized", "Everyday", "Heritage"}
	materials = []string{"Walnut", "Linen", "Ceramic", "Leather", "Bamboo", "Copper", "Wool", "Steel",
		"Cotton", "Marble", "Oak", "Glass", "Canvas", "Brass", "Cork", "Velvet"}
	nouns = []string{"Desk Lamp", "Backpack", "Teapot", "Notebook", "Armchair", "Headphones", "Blanket", "Water Bottle",
		"Side Table", "Wall Clock", "Sneakers", "Cutting Board", "Rain Jacket", "Coffee Mug", "Bookshelf", "Duffel Bag"}
)

// Product returns product id (1 to d.Products).
func (d Dataset) Product(id int64) query.Product {
	r := rand.New(rand.NewPCG(d.Seed^0x70726f64, uint64(id)))
	a, m, n := adjectives[r.IntN(len(adjectives))], materials[r.IntN(len(materials))], nouns[r.IntN(len(nouns))]
	return query.Product{
		ID:       id,
		Title:    fmt.Sprintf("%s %s %s %04d", a, m, n, id),
		Image:    fmt.Sprintf("https://img.herald.example/p/%06d.jpg", id),
		Price:    99 + 100*r.Int64N(500), // 0.99 to 499.99
		Currency: event.DefaultCurrency,
	}
}

// UserName and UserEmail are user u's name and email.
func (d Dataset) UserName(u int64) string { return "Shopper " + strconv.FormatInt(u, 10) }
func (d Dataset) UserEmail(u int64) string {
	return "shopper" + strconv.FormatInt(u, 10) + "@example.com"
}

// Orders returns user u's orders, oldest first.
func (d Dataset) Orders(u int64) []Order {
	r := rand.New(rand.NewPCG(d.Seed, uint64(u)))
	out := make([]Order, d.OrdersPerUser)
	for j := range out {
		out[j] = Order{
			ID:        (u-1)*int64(d.OrdersPerUser) + int64(j) + 1,
			UserID:    u,
			ProductID: 1 + r.Int64N(int64(d.Products)),
			Cancelled: r.IntN(10) == 0,
		}
	}
	return out
}

// Answer is what GET /users/{u}/products must return: each product u
// ordered and did not cancel, once, newest order first.
func (d Dataset) Answer(u int64) []query.Product {
	os := d.Orders(u)
	out := []query.Product{}
	seen := map[int64]bool{}
	for i := len(os) - 1; i >= 0; i-- {
		o := os[i]
		if o.Cancelled || seen[o.ProductID] {
			continue
		}
		seen[o.ProductID] = true
		out = append(out, d.Product(o.ProductID))
	}
	return out
}

// AnswerJSON is Answer encoded as the query service encodes it.
func (d Dataset) AnswerJSON(u int64) []byte {
	b, _ := json.Marshal(d.Answer(u)) // cannot fail: plain structs
	return b
}

// MeanAnswerSize is the mean size in bytes of AnswerJSON over a sample of
// users, the size the fixed-body ceiling answers with.
func (d Dataset) MeanAnswerSize() int {
	n := min(d.Users, 2000)
	total := 0
	for u := 1; u <= n; u++ {
		total += len(d.AnswerJSON(int64(u))) + 1 // the encoder's newline
	}
	return total / n
}

// Events calls fn with the events that would have built the dataset, in an
// order the services could have emitted them: every product, then each
// user followed by their orders and cancellations. It stops after limit
// events (all of them if limit <= 0) or at fn's first error.
func (d Dataset) Events(limit int, fn func(event.Envelope) error) error {
	n := 0
	emit := func(source, typ string, id, version int64, data any) error {
		if limit > 0 && n >= limit {
			return errLimit
		}
		e, err := event.New(source, typ, strconv.FormatInt(id, 10), version, data)
		if err != nil {
			return err
		}
		n++
		return fn(e)
	}
	err := func() error {
		for p := int64(1); p <= int64(d.Products); p++ {
			pr := d.Product(p)
			if err := emit(products.Source, event.ProductCreatedV2, p, 1, event.ProductDataV2{ID: p, Title: pr.Title, Image: pr.Image, Price: pr.Price, Currency: pr.Currency}); err != nil {
				return err
			}
		}
		for u := int64(1); u <= int64(d.Users); u++ {
			if err := emit(users.Source, event.UserCreated, u, 1, event.UserCreatedData{ID: u, Name: d.UserName(u), Email: d.UserEmail(u)}); err != nil {
				return err
			}
			os := d.Orders(u)
			for _, o := range os {
				if err := emit(orders.Source, event.OrderCreated, o.ID, 1, event.OrderData{ID: o.ID, UserID: u, ProductID: o.ProductID}); err != nil {
					return err
				}
			}
			for _, o := range os {
				if o.Cancelled {
					if err := emit(orders.Source, event.OrderCancelled, o.ID, 2, event.OrderData{ID: o.ID, UserID: u, ProductID: o.ProductID}); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}()
	if err == errLimit {
		return nil
	}
	return err
}

var errLimit = fmt.Errorf("limit reached")

// EventCount returns how many events Events gives without a limit.
func (d Dataset) EventCount() int {
	n := d.Products
	for u := int64(1); u <= int64(d.Users); u++ {
		n++
		for _, o := range d.Orders(u) {
			n++
			if o.Cancelled {
				n++
			}
		}
	}
	return n
}

// ForEvents returns a dataset of products products and 5 orders per user
// with enough users for at least n events.
func ForEvents(seed uint64, n, products int) Dataset {
	// Each user gives 1 + 5 + about 0.5 events.
	return Dataset{Seed: seed, Products: products, OrdersPerUser: 5, Users: (n-products)/6 + 1}
}
