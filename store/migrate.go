package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// migrate applies, with goose, the migrations of dialect that db has not run
// yet: each once, in order, in its own transaction, recorded in goose's
// version table. On PostgreSQL an advisory lock lets one instance migrate
// at a time while the others wait. A database whose schema is newer than
// migrations is refused: an older binary must not write to it.
func migrate(ctx context.Context, db *sql.DB, dialect Dialect, migrations []Migration) error {
	gooseDialect := goose.DialectSQLite3
	if dialect == Postgres {
		gooseDialect = goose.DialectPostgres
	}
	steps := make([]*goose.Migration, len(migrations))
	for i, m := range migrations {
		stmt := m.SQLite
		if dialect == Postgres {
			stmt = m.Postgres
		}
		steps[i] = goose.NewGoMigration(int64(i+1), &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, stmt)
			return err
		}}, nil)
	}
	opts := []goose.ProviderOption{
		goose.WithGoMigrations(steps...),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(slog.New(slog.DiscardHandler)),
	}
	if dialect == Postgres {
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300)) // try every second for 5 minutes
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	} else if err := adoptUserVersion(ctx, db); err != nil {
		return err
	}
	if len(steps) == 0 {
		return nil
	}
	p, err := goose.NewProvider(gooseDialect, db, nil, opts...)
	if err != nil {
		return err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > int64(len(migrations)) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade herald", current, len(migrations))
	}
	if _, err := p.Up(ctx); err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) && partial.Failed != nil {
			return fmt.Errorf("migration %d: %w", partial.Failed.Source.Version, partial.Err)
		}
		return err
	}
	return nil
}

// adoptUserVersion brings a SQLite database made before Herald used goose,
// which counted its migrations in PRAGMA user_version, under goose: it
// records those migrations as applied in goose's version table, so they do
// not run twice.
func adoptUserVersion(ctx context.Context, db *sql.DB) error {
	var applied int64
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&applied); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if applied == 0 {
		return nil
	}
	s, err := database.NewStore(goose.DialectSQLite3, goose.DefaultTablename)
	if err != nil {
		return err
	}
	return InTx(ctx, db, func(tx *sql.Tx) error {
		if err := s.CreateVersionTable(ctx, tx); err != nil {
			return fmt.Errorf("adopt schema version %d: %w", applied, err)
		}
		for v := int64(0); v <= applied; v++ { // goose records version 0 with its table
			if err := s.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
				return fmt.Errorf("adopt schema version %d: %w", applied, err)
			}
		}
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = 0"); err != nil {
			return fmt.Errorf("adopt schema version %d: %w", applied, err)
		}
		return nil
	})
}
