//go:build faults

package faults

import (
	"database/sql"
	"fmt"
	"path/filepath"

	_ "modernc.org/sqlite" // the "sqlite" driver, to read the services' databases
)

// productRow is a product as the products db and the query read model hold it.
type productRow struct {
	Title, Image string
	Version      int64
}

// orderRow is an order as the orders db holds it and an order line as the
// query read model holds it.
type orderRow struct {
	UserID, ProductID int64
	Cancelled         bool
	Version           int64
}

// writeSide is what the write services' own databases hold.
type writeSide struct {
	users    map[int64]int64 // id -> version
	products map[int64]productRow
	orders   map[int64]orderRow
	outbox   map[string]int // service -> events waiting in its outbox
}

// events is how many events the write services committed: every entity
// write bumps a version and records one event, so it is the sum of versions.
func (w writeSide) events() int {
	n := 0
	for _, v := range w.users {
		n += int(v)
	}
	for _, p := range w.products {
		n += int(p.Version)
	}
	for _, o := range w.orders {
		n += int(o.Version)
	}
	return n
}

// pending is how many events wait in all outboxes.
func (w writeSide) pending() int {
	n := 0
	for _, v := range w.outbox {
		n += v
	}
	return n
}

// readSide is the query service's read model.
type readSide struct {
	users     map[int64]int64
	products  map[int64]productRow
	lines     map[int64]orderRow
	processed int // rows in processed_events: events applied
}

// openRO opens a service's database read-only; the service keeps writing it.
func openRO(dir, service string) (*sql.DB, error) {
	path := filepath.Join(dir, "shop-"+service+".db")
	return sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
}

// readWriteSide reads the users, products and orders databases.
func readWriteSide(dir string) (writeSide, error) {
	w := writeSide{users: map[int64]int64{}, products: map[int64]productRow{}, orders: map[int64]orderRow{}, outbox: map[string]int{}}
	err := withDB(dir, "users", func(db *sql.DB) error {
		return eachRow(db, `SELECT id, version FROM users`, func(s scanner) error {
			var id, v int64
			err := s.Scan(&id, &v)
			w.users[id] = v
			return err
		})
	})
	if err == nil {
		err = withDB(dir, "products", func(db *sql.DB) error {
			return eachRow(db, `SELECT id, title, image, version FROM products`, func(s scanner) error {
				var id int64
				var p productRow
				err := s.Scan(&id, &p.Title, &p.Image, &p.Version)
				w.products[id] = p
				return err
			})
		})
	}
	if err == nil {
		err = withDB(dir, "orders", func(db *sql.DB) error {
			return eachRow(db, `SELECT id, user_id, product_id, status = 'cancelled', version FROM orders`, func(s scanner) error {
				var id int64
				var o orderRow
				err := s.Scan(&id, &o.UserID, &o.ProductID, &o.Cancelled, &o.Version)
				w.orders[id] = o
				return err
			})
		})
	}
	for _, svc := range []string{"users", "products", "orders"} {
		if err != nil {
			break
		}
		err = withDB(dir, svc, func(db *sql.DB) error {
			var n int
			err := db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&n)
			w.outbox[svc] = n
			return err
		})
	}
	return w, err
}

// readQuerySide reads the query service's read model.
func readQuerySide(dir string) (readSide, error) {
	r := readSide{users: map[int64]int64{}, products: map[int64]productRow{}, lines: map[int64]orderRow{}}
	err := withDB(dir, "query", func(db *sql.DB) error {
		err := eachRow(db, `SELECT id, version FROM users`, func(s scanner) error {
			var id, v int64
			err := s.Scan(&id, &v)
			r.users[id] = v
			return err
		})
		if err == nil {
			err = eachRow(db, `SELECT id, title, image, version FROM products`, func(s scanner) error {
				var id int64
				var p productRow
				err := s.Scan(&id, &p.Title, &p.Image, &p.Version)
				r.products[id] = p
				return err
			})
		}
		if err == nil {
			err = eachRow(db, `SELECT order_id, user_id, product_id, cancelled, version FROM order_lines`, func(s scanner) error {
				var id int64
				var o orderRow
				err := s.Scan(&id, &o.UserID, &o.ProductID, &o.Cancelled, &o.Version)
				r.lines[id] = o
				return err
			})
		}
		if err == nil {
			err = db.QueryRow(`SELECT count(*) FROM processed_events`).Scan(&r.processed)
		}
		return err
	})
	return r, err
}

// scanner is a *sql.Rows seen one row at a time.
type scanner interface{ Scan(dest ...any) error }

// withDB runs fn on the service's database, opened read-only.
func withDB(dir, service string, fn func(*sql.DB) error) error {
	db, err := openRO(dir, service)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := fn(db); err != nil {
		return fmt.Errorf("read shop-%s.db: %w", service, err)
	}
	return nil
}

// eachRow runs fn for every row of query.
func eachRow(db *sql.DB, query string, fn func(scanner) error) error {
	rows, err := db.Query(query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
