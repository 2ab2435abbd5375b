// Package shopfold folds the shop's events the plainest way there is, to be
// the reference that tests check the query service's answers against: "a
// fold of the stream". It shares no code with the query service.
package shopfold

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/heraldev/herald/event"
)

// Product is one product of an answer.
type Product struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
	Image string `json:"image"`
}

type product struct {
	Product
	version int64
}

type line struct {
	user, product int64
	cancelled     bool
	version       int64
}

// Fold is the shop's state as its events tell it. Its zero value is empty
// and ready. It is not safe for concurrent use.
type Fold struct {
	users    map[int64]bool
	products map[int64]product
	lines    map[int64]line // by order id
}

// Add folds one event, whatever its version; a later entityversion wins,
// a cancellation outlives its order's creation, as the query promises.
// Events of other types, and data it cannot read, are ignored.
func (f *Fold) Add(e event.Envelope) {
	if f.users == nil {
		f.users, f.products, f.lines = map[int64]bool{}, map[int64]product{}, map[int64]line{}
	}
	var d struct {
		ID        int64  `json:"id"`
		Title     string `json:"title"`
		Image     string `json:"image"`
		UserID    int64  `json:"userId"`
		ProductID int64  `json:"productId"`
	}
	if json.Unmarshal(e.Data, &d) != nil {
		return
	}
	switch kind := event.Subject(e.Type); kind {
	case "shop.user.created":
		f.users[d.ID] = true
	case "shop.product.created", "shop.product.updated":
		if old, ok := f.products[d.ID]; !ok || e.EntityVersion > old.version {
			f.products[d.ID] = product{Product{d.ID, d.Title, d.Image}, e.EntityVersion}
		}
	case "shop.order.created", "shop.order.cancelled":
		l := line{user: d.UserID, product: d.ProductID, cancelled: kind == "shop.order.cancelled", version: e.EntityVersion}
		if old, ok := f.lines[d.ID]; !ok || l.version > old.version {
			f.lines[d.ID] = l
		}
	}
}

// Users returns every user an event named, as a creation or in an order,
// sorted.
func (f *Fold) Users() []int64 {
	var out []int64
	for u := range f.users {
		out = append(out, u)
	}
	for _, l := range f.lines {
		if !f.users[l.user] && !slices.Contains(out, l.user) {
			out = append(out, l.user)
		}
	}
	slices.Sort(out)
	return out
}

// Answer returns what GET /users/{id}/products must answer for user: each
// product of the user's live orders once, with its newest title and image,
// newest order first; products no event has described are left out. known
// is false for a user no event named.
func (f *Fold) Answer(user int64) (ps []Product, known bool) {
	newest := map[int64]int64{}
	named := f.users[user]
	for order, l := range f.lines {
		if l.user != user {
			continue
		}
		named = true
		if l.cancelled {
			continue
		}
		if _, ok := f.products[l.product]; ok {
			newest[l.product] = max(newest[l.product], order)
		}
	}
	if !named {
		return nil, false
	}
	ps = []Product{}
	for p := range newest {
		ps = append(ps, f.products[p].Product)
	}
	slices.SortFunc(ps, func(a, b Product) int { return cmp.Compare(newest[b.ID], newest[a.ID]) })
	return ps, true
}
