package workload

// The schemas and statements below are Herald's, copied so that this
// module does not depend on Herald's (and its go.mod stays apart). Keep
// them in step with the files named beside each.

// queryMigrations is the query service's read model: store.ProcessedSchema
// and shop/query.Migrations, every step applied.
var queryMigrations = []string{
	// store/processed.go, ProcessedSchema
	`CREATE TABLE processed_events (
		event_id     TEXT PRIMARY KEY,
		processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
	) WITHOUT ROWID;
	CREATE TABLE consumers (
		name        TEXT PRIMARY KEY,
		attached_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
	) WITHOUT ROWID;`,
	// shop/query/query.go, Migrations
	`CREATE TABLE users (id INTEGER PRIMARY KEY, version INTEGER NOT NULL);
	CREATE TABLE products (
		id      INTEGER PRIMARY KEY,
		title   TEXT NOT NULL,
		image   TEXT NOT NULL,
		version INTEGER NOT NULL
	);
	CREATE TABLE order_lines (
		order_id   INTEGER PRIMARY KEY,
		user_id    INTEGER NOT NULL,
		product_id INTEGER NOT NULL,
		cancelled  INTEGER NOT NULL,
		version    INTEGER NOT NULL
	);
	CREATE INDEX order_lines_user ON order_lines (user_id, cancelled, order_id);`,
	`ALTER TABLE products ADD COLUMN price INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE products ADD COLUMN currency TEXT NOT NULL DEFAULT 'EUR';`,
}

// ordersMigrations is the orders service's database: outbox.Schema,
// store.ProcessedSchema and shop/orders.Migrations.
var ordersMigrations = []string{
	// outbox/outbox.go, Schema
	`CREATE TABLE outbox (
		seq        INTEGER PRIMARY KEY AUTOINCREMENT,
		event_id   TEXT NOT NULL UNIQUE,
		subject    TEXT NOT NULL,
		payload    BLOB NOT NULL,
		created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
	);`,
	queryMigrations[0],
	// shop/orders/orders.go, Migrations
	`CREATE TABLE known_users (id INTEGER PRIMARY KEY);
	CREATE TABLE known_products (id INTEGER PRIMARY KEY);
	CREATE TABLE orders (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		user_id    INTEGER NOT NULL,
		product_id INTEGER NOT NULL,
		status     TEXT NOT NULL,
		version    INTEGER NOT NULL,
		created_at TEXT NOT NULL
	);`,
	`CREATE INDEX orders_user ON orders (user_id, id);`,
}

const (
	// store/processed.go, ApplyEachOnce: prepared once per transaction.
	recordEvent = `INSERT INTO processed_events (event_id, processed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`

	// shop/query/query.go: prepared once per database.
	upsertUser = `INSERT INTO users (id, version) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version WHERE excluded.version > users.version`
	upsertProduct = `INSERT INTO products (id, title, image, price, currency, version) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET title = excluded.title, image = excluded.image, price = excluded.price,
			currency = excluded.currency, version = excluded.version
		WHERE excluded.version > products.version`
	upsertLine = `INSERT INTO order_lines (order_id, user_id, product_id, cancelled, version) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (order_id) DO UPDATE SET cancelled = excluded.cancelled, version = excluded.version
		WHERE excluded.version > order_lines.version`

	// The order lines of a user, as the query service read them before it
	// answered from memory (its view still loads them with this shape).
	userLines = `SELECT order_id, product_id, cancelled, version FROM order_lines WHERE user_id = $1`

	// shop/orders/orders.go, New: prepared once per database.
	insertOrder = `INSERT INTO orders (user_id, product_id, status, version, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`
	// outbox/outbox.go, addEvent: prepared once per database.
	addEvent = `INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3)`

	// store/group.go: each transaction of a group of several runs in a
	// savepoint; the three statements are prepared once per database.
	savepoint = `SAVEPOINT grouped`
	release   = `RELEASE grouped`
)

// Herald's workload sizes, as issue 19 sets them.
const (
	prefillEvents = 200_000 // events (order lines) and orders already in a database
	users         = 100_000
	products      = 1_000
	applyBatch    = 256 // events a catching-up consumer applies per transaction
	createBatch   = 16  // orders the orders service's Group commits together
	readers       = 64  // goroutines reading at once
)
