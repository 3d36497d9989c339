// Package app holds what the sample shop needs beyond the service itself (package
// demo/shop): its PostgreSQL store and the version files of examples/shop/versions. It is
// apart from the service so that the embedded demo, and the shakedown binary that carries
// it, link no database driver of the example's.
package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shakedown-dev/shakedown/demo/shop"
)

// Postgres is a Store reading the prices table of a PostgreSQL database:
//
//	CREATE TABLE prices (item text PRIMARY KEY, cents integer NOT NULL)
type Postgres struct {
	pool *pgxpool.Pool
}

// OpenPostgres connects a pool to the database dsn names ("postgres://user@host:port/db").
// It does not wait for the database: the first lookups find out whether it answers. Close
// releases the pool.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return &Postgres{pool: pool}, nil
}

// Price implements shop.Store.
func (p *Postgres) Price(ctx context.Context, item string) (int, error) {
	var cents int
	err := p.pool.QueryRow(ctx, "SELECT cents FROM prices WHERE item = $1", item).Scan(&cents)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, shop.ErrNoItem
	case err != nil:
		return 0, fmt.Errorf("postgres price of %s: %w", item, err)
	}
	return cents, nil
}

// Ping checks that the database answers.
func (p *Postgres) Ping(ctx context.Context) error { return p.pool.Ping(ctx) }

// Close closes the pool.
func (p *Postgres) Close() { p.pool.Close() }

// Schema creates the prices table and fills it with prices, replacing what was there.
func Schema(ctx context.Context, dsn string, prices shop.MemStore) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS prices (item text PRIMARY KEY, cents integer NOT NULL)"); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	for item, cents := range prices {
		if _, err := conn.Exec(ctx, "INSERT INTO prices (item, cents) VALUES ($1, $2) ON CONFLICT (item) DO UPDATE SET cents = EXCLUDED.cents", item, cents); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	return nil
}
