package query

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/heraldev/herald/event"
)

// view is the read model in memory, what UserProducts answers from: the same
// rows as the tables, folded by the same rules (a higher version wins; a
// cancellation is a tombstone the order's creation cannot revive). It is
// filled from the tables when the service starts and then kept current by
// Committed, after each transaction that applied events has committed, so it
// never shows what the database does not hold. It is safe for concurrent
// use.
//
// The order lines hold no pointers (a slice of values per user, and the
// user of each order), so the garbage collector does not walk them: a view
// of a million orders would otherwise cost a rebuild a sixth of its CPU.
type view struct {
	mu        sync.RWMutex
	users     map[int64]struct{}   // users a UserCreated has named
	products  map[int64]productRow // by product id
	byUser    map[int64][]line     // each user's lines, in no order
	orderUser map[int64]int64      // the user of each order
}

type productRow struct {
	title, image string
	price        int64
	currency     string
	version      int64
	json         []byte // the product as one element of an answer, encoded once
}

// newProductRow returns the row of product id, with its answer element
// encoded as the API encodes a Product.
func newProductRow(id int64, title, image string, price int64, currency string, version int64) productRow {
	p := productRow{title: title, image: image, price: price, currency: currency, version: version}
	p.json = encodeProduct(Product{ID: id, Title: title, Image: image, Price: price, Currency: currency})
	return p
}

// encodeProduct encodes p as the API's JSON encoder does (no HTML
// escaping), without the encoder's newline.
func encodeProduct(p Product) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p) // a struct of strings and numbers always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

type line struct {
	order, user, product int64
	cancelled            bool
	version              int64
}

func newView() *view {
	return &view{users: map[int64]struct{}{}, products: map[int64]productRow{}, byUser: map[int64][]line{}, orderUser: map[int64]int64{}}
}

// load reads the whole read model from db into a new view.
func load(ctx context.Context, db *sql.DB) (*view, error) {
	v := newView()
	err := eachRow(ctx, db, `SELECT id FROM users`, func(r *sql.Rows) error {
		var id int64
		err := r.Scan(&id)
		v.users[id] = struct{}{}
		return err
	})
	if err == nil {
		err = eachRow(ctx, db, `SELECT id, title, image, price, currency, version FROM products`, func(r *sql.Rows) error {
			var id int64
			var p productRow
			if err := r.Scan(&id, &p.title, &p.image, &p.price, &p.currency, &p.version); err != nil {
				return err
			}
			v.products[id] = newProductRow(id, p.title, p.image, p.price, p.currency, p.version)
			return nil
		})
	}
	if err == nil {
		err = eachRow(ctx, db, `SELECT order_id, user_id, product_id, cancelled, version FROM order_lines`, func(r *sql.Rows) error {
			var l line
			if err := r.Scan(&l.order, &l.user, &l.product, &l.cancelled, &l.version); err != nil {
				return err
			}
			v.putLine(l)
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("load the read model: %w", err)
	}
	return v, nil
}

func eachRow(ctx context.Context, db *sql.DB, q string, f func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// fold applies events, already committed to the tables, to the view by the
// tables' rules. Events the view cannot decode are skipped: Apply refused
// them, so they were never committed.
func (v *view) fold(es []event.Envelope) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range es {
		switch e.Type {
		case event.UserCreated:
			if d, err := event.Decode[event.UserCreatedData](e); err == nil {
				v.users[d.ID] = struct{}{}
			}
		case event.ProductCreatedV2, event.ProductUpdatedV2:
			if d, err := event.Decode[event.ProductDataV2](e); err == nil {
				if old, ok := v.products[d.ID]; !ok || e.EntityVersion > old.version {
					v.products[d.ID] = newProductRow(d.ID, d.Title, d.Image, d.Price, d.Currency, e.EntityVersion)
				}
			}
		case event.OrderCreated, event.OrderCancelled:
			if d, err := event.Decode[event.OrderData](e); err == nil {
				l := line{order: d.ID, user: d.UserID, product: d.ProductID, cancelled: e.Type == event.OrderCancelled, version: e.EntityVersion}
				if old := v.line(d.ID); old == nil {
					v.putLine(l)
				} else if l.version > old.version {
					old.cancelled, old.version = l.cancelled, l.version
				}
			}
		}
	}
}

// putLine adds a line the view does not have. Callers hold mu (or own v).
func (v *view) putLine(l line) {
	v.orderUser[l.order] = l.user
	v.byUser[l.user] = append(v.byUser[l.user], l)
}

// line returns the view's line of order, nil if it has none. Callers hold
// mu; the pointer is valid until the next putLine.
func (v *view) line(order int64) *line {
	user, ok := v.orderUser[order]
	if !ok {
		return nil
	}
	ls := v.byUser[user]
	for i := range ls {
		if ls[i].order == order {
			return &ls[i]
		}
	}
	return nil
}

// userProducts answers UserProducts from the view; known is false for a
// user no event has named.
func (v *view) userProducts(user int64) (ps []Product, known bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var scratch [16]hit
	hits, known := v.hits(user, scratch[:0])
	if !known {
		return nil, false
	}
	ps = make([]Product, len(hits))
	for i, h := range hits {
		pr := v.products[h.product]
		ps[i] = Product{ID: h.product, Title: pr.title, Image: pr.image, Price: pr.price, Currency: pr.currency}
	}
	return ps, true
}

// appendUserProducts appends to b the answer of UserProducts as the API
// encodes it, a JSON array and a newline, from the products' encoded
// elements; known is false for a user no event has named.
func (v *view) appendUserProducts(b []byte, user int64) (_ []byte, known bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var scratch [16]hit
	hits, known := v.hits(user, scratch[:0])
	if !known {
		return b, false
	}
	b = append(b, '[')
	for i, h := range hits {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, v.products[h.product].json...)
	}
	return append(b, ']', '\n'), true
}

// hit is a product in a user's answer: its id, not the product, so that
// finding and sorting them moves little.
type hit struct {
	product int64
	newest  int64 // the product's newest live order
}

// hits appends to hits the products of user's live orders that the view
// has, newest order first; known is false for a user no event has named.
// Callers hold mu.
func (v *view) hits(user int64, hits []hit) (_ []hit, known bool) {
	lines := v.byUser[user]
	if len(lines) == 0 { // a user with orders is known; only one without needs asking
		if _, named := v.users[user]; !named {
			return hits, false
		}
	}
	var at map[int64]int // product → index in hits, for users with many lines
	if len(lines) > 32 {
		at = make(map[int64]int, len(lines))
	}
	for _, l := range lines {
		if l.cancelled {
			continue
		}
		i := -1
		if at != nil {
			if j, ok := at[l.product]; ok {
				i = j
			}
		} else {
			i = slices.IndexFunc(hits, func(h hit) bool { return h.product == l.product })
		}
		if i >= 0 {
			hits[i].newest = max(hits[i].newest, l.order)
			continue
		}
		if _, ok := v.products[l.product]; !ok {
			continue // shown once the product arrives
		}
		if at != nil {
			at[l.product] = len(hits)
		}
		hits = append(hits, hit{l.product, l.order})
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(b.newest, a.newest) })
	return hits, true
}
