//go:build faults || cluster

package faults

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to read the write services' PostgreSQL databases
	_ "modernc.org/sqlite"             // the "sqlite" driver, to read the services' SQLite databases
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

	// Orders' own copy of users and products, fed by its consumer.
	knownUsers, knownProducts map[int64]bool
	ordersProcessed           int // rows in orders' processed_events: events it applied
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

// readSide is a query replica's read model.
type readSide struct {
	users     map[int64]int64
	products  map[int64]productRow
	lines     map[int64]orderRow
	processed int // rows in processed_events: events applied
}

// openRO opens a service's SQLite database read-only; the service keeps
// writing it. service is "users", "query", "query-a" and so on: the file is
// <dir>/shop-<service>.db.
func openRO(dir, service string) (*sql.DB, error) {
	path := filepath.Join(dir, "shop-"+service+".db")
	return sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
}

// withWriteDB runs fn on a write service's database: its PostgreSQL
// database if the deployment gives it one (through a pool the test keeps
// until its end), else its SQLite file, opened read-only.
func (c *cluster) withWriteDB(service string, fn func(*sql.DB) error) error {
	url := c.dep.DB[service]
	if url == "" || !strings.HasPrefix(url, "postgres") {
		return withDB(c.dir, service, fn)
	}
	c.mu.Lock()
	db := c.dbs[service]
	if db == nil {
		var err error
		if db, err = sql.Open("pgx", url); err != nil {
			c.mu.Unlock()
			return err
		}
		db.SetMaxOpenConns(2)
		c.dbs[service] = db
	}
	c.mu.Unlock()
	if err := fn(db); err != nil {
		return fmt.Errorf("read %s's PostgreSQL database: %w", service, err)
	}
	return nil
}

// readWriteSide reads the users, products and orders databases.
func (c *cluster) readWriteSide() (writeSide, error) {
	w := writeSide{users: map[int64]int64{}, products: map[int64]productRow{}, orders: map[int64]orderRow{}, outbox: map[string]int{},
		knownUsers: map[int64]bool{}, knownProducts: map[int64]bool{}}
	err := c.withWriteDB("users", func(db *sql.DB) error {
		return eachRow(db, `SELECT id, version FROM users`, func(s scanner) error {
			var id, v int64
			err := s.Scan(&id, &v)
			w.users[id] = v
			return err
		})
	})
	if err == nil {
		err = c.withWriteDB("products", func(db *sql.DB) error {
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
		err = c.withWriteDB("orders", func(db *sql.DB) error {
			err := eachRow(db, `SELECT id, user_id, product_id, status = 'cancelled', version FROM orders`, func(s scanner) error {
				var id int64
				var o orderRow
				err := s.Scan(&id, &o.UserID, &o.ProductID, &o.Cancelled, &o.Version)
				w.orders[id] = o
				return err
			})
			for table, known := range map[string]map[int64]bool{"known_users": w.knownUsers, "known_products": w.knownProducts} {
				if err == nil {
					err = eachRow(db, `SELECT id FROM `+table, func(s scanner) error {
						var id int64
						err := s.Scan(&id)
						known[id] = true
						return err
					})
				}
			}
			if err == nil {
				err = db.QueryRow(`SELECT count(*) FROM processed_events`).Scan(&w.ordersProcessed)
			}
			return err
		})
	}
	for _, svc := range writeServices {
		if err != nil {
			break
		}
		err = c.withWriteDB(svc, func(db *sql.DB) error {
			var n int
			err := db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&n)
			w.outbox[svc] = n
			return err
		})
	}
	return w, err
}

// readQuerySide reads the unnamed query service's read model.
func readQuerySide(dir string) (readSide, error) { return readReplica(dir, "query") }

// readReplica reads the read model of a query role ("query", or
// "query-<replica>" for a named replica, whose file is
// shop-query-<replica>.db).
func readReplica(dir, role string) (readSide, error) {
	r := readSide{users: map[int64]int64{}, products: map[int64]productRow{}, lines: map[int64]orderRow{}}
	err := withDB(dir, role, func(db *sql.DB) error {
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

// withDB runs fn on the service's SQLite database, opened read-only.
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
