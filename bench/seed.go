package bench

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/shop/orders"
	"github.com/heraldev/herald/shop/products"
	"github.com/heraldev/herald/shop/query"
	"github.com/heraldev/herald/shop/users"
	"github.com/heraldev/herald/store"
)

// seedShop writes d straight into the SQLite databases the shop services
// open in dir: users, products and orders (with orders' own copy of the
// user and product ids), and the query service's read model, built by the
// query package's own projection (query.Service.Apply) from d's events. Each
// database is filled in one transaction.
//
// The events are not published: building a read model of hundreds of
// thousands of events through the query service's consumer (one fsynced
// transaction per event) would take minutes, and the scenarios that seed
// this way only need the databases. The services attach their consumers to
// an empty stream and find nothing to replay.
func seedShop(ctx context.Context, dir string, d Dataset) error {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	type db struct {
		name       string
		migrations []store.Migration
		db         *sql.DB
		tx         *sql.Tx
	}
	dbs := []*db{
		{name: "shop-users", migrations: users.Migrations},
		{name: "shop-products", migrations: products.Migrations},
		{name: "shop-orders", migrations: orders.Migrations},
		{name: "shop-query", migrations: query.Migrations},
	}
	defer func() {
		for _, x := range dbs {
			if x.tx != nil {
				x.tx.Rollback()
			}
			if x.db != nil {
				x.db.Close()
			}
		}
	}()
	for _, x := range dbs {
		var err error
		if x.db, err = store.Open(ctx, filepath.Join(dir, x.name+".db"), x.migrations); err != nil {
			return fmt.Errorf("seed %s: %w", x.name, err)
		}
	}
	// The query service's own projection, on its (empty) database.
	proj, err := query.New(ctx, dbs[3].db)
	if err != nil {
		return fmt.Errorf("seed shop-query: %w", err)
	}
	for _, x := range dbs {
		if x.tx, err = x.db.BeginTx(ctx, nil); err != nil {
			return fmt.Errorf("seed %s: %w", x.name, err)
		}
	}
	utx, ptx, otx, qtx := dbs[0].tx, dbs[1].tx, dbs[2].tx, dbs[3].tx
	prep := func(tx *sql.Tx, q string) (*sql.Stmt, error) { return tx.PrepareContext(ctx, q) }
	insUser, err := prep(utx, `INSERT INTO users (id, name, email, version, created_at) VALUES (?, ?, ?, 1, ?)`)
	if err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	insProduct, err := prep(ptx, `INSERT INTO products (id, title, image, price, currency, version, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?)`)
	if err != nil {
		return fmt.Errorf("seed products: %w", err)
	}
	insOrder, err := prep(otx, `INSERT INTO orders (id, user_id, product_id, status, version, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("seed orders: %w", err)
	}
	for p := int64(1); p <= int64(d.Products); p++ {
		pr := d.Product(p)
		if _, err := insProduct.ExecContext(ctx, p, pr.Title, pr.Image, pr.Price, pr.Currency, now); err != nil {
			return fmt.Errorf("seed products: %w", err)
		}
	}
	for u := int64(1); u <= int64(d.Users); u++ {
		if _, err := insUser.ExecContext(ctx, u, d.UserName(u), d.UserEmail(u), now); err != nil {
			return fmt.Errorf("seed users: %w", err)
		}
		for _, o := range d.Orders(u) {
			status, version := orders.StatusPlaced, 1
			if o.Cancelled {
				status, version = orders.StatusCancelled, 2
			}
			if _, err := insOrder.ExecContext(ctx, o.ID, o.UserID, o.ProductID, status, version, now); err != nil {
				return fmt.Errorf("seed orders: %w", err)
			}
		}
	}
	// Orders' copy of the ids and the query's read model come from the
	// events, through each package's own Apply.
	err = d.Events(0, func(e event.Envelope) error {
		if err := orders.Apply(ctx, otx, e); err != nil {
			return fmt.Errorf("seed orders' copy: %w", err)
		}
		if err := proj.Apply(ctx, qtx, e); err != nil {
			return fmt.Errorf("seed query: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, x := range dbs {
		err := x.tx.Commit()
		x.tx = nil
		if err != nil {
			return fmt.Errorf("seed %s: %w", x.name, err)
		}
	}
	return nil
}

// seededBus starts a herald bus called name whose stream SHOP holds the
// first n events of d (see Dataset.Events), and connects the bench to it.
// The events are published on the bus without fsync, asynchronously (a
// window of Window); the bus is then restarted on the same storage with
// fsync on, as Herald's bus runs by default, and extra flags. scenario
// begins its progress lines.
func (e *env) seededBus(ctx context.Context, name string, d Dataset, n int, scenario string, extra ...string) (*proc, *natsConn, error) {
	seedBus, nc, err := e.startBus(ctx, name, true)
	if err != nil {
		return nil, nil, err
	}
	if err := nc.ensureStream(ctx, event.ShopStream, event.ShopSubjects); err != nil {
		return nil, nil, err
	}
	type msg struct {
		subject, id string
		data        []byte
	}
	ch := make(chan msg, 4096)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(ch)
		_ = d.Events(n, func(ev event.Envelope) error {
			b, err := ev.Encode()
			if err != nil {
				return err
			}
			select {
			case ch <- msg{event.Subject(ev.Type), ev.ID, b}:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	}()
	var sent atomic.Int64
	stop := e.p.track(fmt.Sprintf("%s: publishing %s events", scenario, thousands(float64(n))), &sent, "events")
	res, err := nc.publishAll(ctx, time.Time{}, func() (*nats.Msg, string, bool) {
		m, ok := <-ch
		if !ok {
			return nil, "", false
		}
		sent.Add(1)
		return &nats.Msg{Subject: m.subject, Data: m.data}, m.id, true
	})
	stop()
	if err != nil {
		return nil, nil, err
	}
	if res.Acked != int64(n) {
		return nil, nil, fmt.Errorf("published %d of %d events (%d failed)", res.Acked, n, res.Errors)
	}
	e.note("%s events (%s users, %d products, their orders and cancellations) published at %s events/s without fsync",
		thousands(float64(n)), thousands(float64(d.Users)), d.Products, thousands(res.Rate()))
	nc.Close()
	if err := e.procs.stop(seedBus); err != nil {
		return nil, nil, err
	}
	// The stream is on disk before anything measures fsyncs.
	syncDisk()
	bus, nc, err := e.startBus(ctx, name, false, extra...)
	if err != nil {
		return nil, nil, err
	}
	if last, err := nc.bus.LastSeq(ctx, event.ShopStream); err != nil || last != uint64(n) {
		return nil, nil, fmt.Errorf("after the bus restarted, stream %s ends at %d (%v), want %d", event.ShopStream, last, err, n)
	}
	return bus, nc, nil
}
